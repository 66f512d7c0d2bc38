// The enrolment file `scws provision` writes beside a card image (IMG.admin.toml, docs/protocol.md
// 16.7): what the administration server needs to know a card. Keys: iccid (digits), psk_identity
// ("scws-admin:<digits>"), psk_key (hex, 16-32 bytes), server, port, host, uri (the card's link
// settings, kept for reference).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "sim/admin/admin_protocol.hpp"

namespace scws::sim::admin {

class EnrolmentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Enrolment {
  std::string iccid;
  std::string psk_identity;
  Blob psk_key;
  std::string server;
  std::uint16_t port = 0;
  std::string host;
  std::string uri;
};

// Throws EnrolmentError naming the file and the problem (missing key, bad hex, an identity that is
// not the ICCID's).
Enrolment read_enrolment(const std::string& path);

}  // namespace scws::sim::admin
