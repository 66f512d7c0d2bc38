#include "card/cat/client_channel.hpp"

namespace scws::card {

const char* describe(LinkFailure f) noexcept {
  switch (f) {
    case LinkFailure::kNotSupported: return "the terminal has no TCP client mode";
    case LinkFailure::kTerminalUnable: return "terminal currently unable (20)";
    case LinkFailure::kNetworkUnable: return "network currently unable (21)";
    case LinkFailure::kNoChannel: return "no channel available at the terminal (3A 01/3A 10)";
    case LinkFailure::kBipError: return "OPEN CHANNEL refused";
    case LinkFailure::kLinkDropped: return "link dropped before it was established";
    case LinkFailure::kSessionReset: return "the card session ended";
  }
  return "?";
}

const char* describe(ClientError e) noexcept {
  switch (e) {
    case ClientError::kInvalidArgument: return "invalid argument";
    case ClientError::kBusy: return "every channel is in use by clients";
    case ClientError::kNotReady: return "no terminal profile yet";
  }
  return "?";
}

}  // namespace scws::card
