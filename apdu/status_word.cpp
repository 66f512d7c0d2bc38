#include "apdu/status_word.hpp"

namespace scws::apdu {

const char* describe(u16 sw) noexcept {
  switch (sw >> 8) {
    case 0x91: return "normal end, proactive command pending";
    case 0x92: return "normal end, data transfer information";
    case 0x61: return "response bytes available";
    case 0x6C: return "wrong Le";
    case 0x63: return (sw & 0xF0) == 0xC0 ? "verification failed, retries left in SW2" : "warning";
    default: break;
  }
  switch (static_cast<StatusWord>(sw)) {
    case StatusWord::kOk: return "normal end";
    case StatusWord::kToolkitBusy: return "toolkit busy";
    case StatusWord::kWarningEndOfFile: return "end of file reached before Le bytes";
    case StatusWord::kWarningSelectedFileInvalid: return "selected file invalidated";
    case StatusWord::kWarningScriptDataDropped: return "script response data dropped (budget)";
    case StatusWord::kMemoryFailure: return "memory failure";
    case StatusWord::kWrongLength: return "wrong length";
    case StatusWord::kLogicalChannelNotSupported: return "logical channel not supported";
    case StatusWord::kSecureMessagingNotSupported: return "secure messaging not supported";
    case StatusWord::kCommandIncompatibleWithFile: return "command incompatible with file structure";
    case StatusWord::kSecurityStatusNotSatisfied: return "security status not satisfied";
    case StatusWord::kAuthenticationBlocked: return "authentication method blocked";
    case StatusWord::kConditionsNotSatisfied: return "conditions of use not satisfied";
    case StatusWord::kCommandNotAllowedNoEf: return "command not allowed, no current EF";
    case StatusWord::kAppletSelectFailed: return "applet selection failed";
    case StatusWord::kWrongData: return "incorrect data";
    case StatusWord::kFunctionNotSupported: return "function not supported";
    case StatusWord::kFileNotFound: return "file or application not found";
    case StatusWord::kRecordNotFound: return "record not found";
    case StatusWord::kNotEnoughMemory: return "not enough memory";
    case StatusWord::kIncorrectP1P2: return "incorrect P1 P2";
    case StatusWord::kReferencedDataNotFound: return "referenced data not found";
    case StatusWord::kWrongP1P2: return "wrong P1 P2";
    case StatusWord::kInsNotSupported: return "instruction not supported";
    case StatusWord::kClaNotSupported: return "class not supported";
    case StatusWord::kTechnicalProblem: return "technical problem";
    case StatusWord::kProactivePending:
    case StatusWord::kBytesAvailable:
    case StatusWord::kWrongLe:
    case StatusWord::kVerificationFailed:
      break;
  }
  return "unknown status";
}

}  // namespace scws::apdu
