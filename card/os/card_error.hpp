// Errors an applet or the card OS reports while processing a command. The dispatcher alone maps
// them to status words (card/os/dispatcher.cpp, to_status_word).
#pragma once

#include "base/bytes.hpp"

namespace scws::card {

enum class CardError : u8 {
  kWrongLength,                 // 6700
  kLogicalChannelNotSupported,  // 6881
  kCommandIncompatibleWithFile, // 6981
  kSecurityStatusNotSatisfied,  // 6982
  kConditionsNotSatisfied,      // 6985
  kCommandNotAllowedNoEf,       // 6986
  kAppletSelectFailed,          // 6999
  kWrongData,                   // 6A80
  kFunctionNotSupported,        // 6A81
  kFileNotFound,                // 6A82
  kRecordNotFound,              // 6A83
  kNotEnoughMemory,             // 6A84 (NVM full or RAM arena exhausted)
  kIncorrectP1P2,               // 6A86
  kReferencedDataNotFound,      // 6A88
  kWrongP1P2,                   // 6B00 (offset beyond the file)
  kInsNotSupported,             // 6D00
  kClaNotSupported,             // 6E00
  kMemoryFailure,               // 6581 (NVM write failed)
  kToolkitBusy,                 // 9300
  kTechnicalProblem,            // 6F00
  kAuthenticationBlocked,       // 6983 (the key's retry counter is at 0); last: values above are stable
};

}  // namespace scws::card
