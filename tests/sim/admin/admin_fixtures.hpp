// What the admin server's tests send: a card's incident records, settings, queue summary and
// reports (docs/protocol.md 16.3), and the requests around them.
#pragma once

#include <string>
#include <vector>

#include "card/defence/detection_settings.hpp"
#include "card/defence/incident_queue.hpp"
#include "sim/admin/admin_protocol.hpp"

namespace scws::sim::admin::testing {

inline const std::string kIccid = "8988211000000000017";
inline const std::string kIdentity = "scws-admin:8988211000000000017";

// EF.ICCID bytes of kIccid (swapped nibbles, F filler).
inline std::array<u8, 10> iccid_bcd(const std::string& digits = kIccid) {
  std::array<u8, 10> b{};
  b.fill(0xFF);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    const u8 d = static_cast<u8>(digits[i] - '0');
    u8& byte = b[i / 2];
    byte = (i % 2 == 0) ? static_cast<u8>((byte & 0xF0) | d) : static_cast<u8>((byte & 0x0F) | (d << 4));
  }
  return b;
}

inline Blob record(std::uint32_t sequence, card::DetectionRule rule = card::DetectionRule::kHttpPasswordGuessing, u16 port = 3516) {
  card::Incident in;
  in.sequence = sequence;
  in.iccid = iccid_bcd();
  in.rule = rule;
  in.port = port;
  in.events = 5;
  in.threshold = 5;
  in.window_seconds = 60;
  in.first_time = 1764000000 + sequence;
  in.last_time = 1764000030 + sequence;
  in.time_from_terminal = true;
  in.detail = 401;
  in.evidence_length = 4;
  in.evidence = {'G', 'E', 'T', ' '};
  Blob out(card::IncidentQueue::kRecordSize);
  card::IncidentQueue::serialize(in, MutableBytes(out.data(), out.size()));
  return out;
}

inline Blob settings() {
  Blob out(card::DetectionSettings::kEncodedSize);
  card::encode(card::default_detection_settings(), MutableBytes(out.data(), out.size()));
  return out;
}

inline Blob summary(std::uint32_t first, std::uint32_t last) {
  Blob s(20, 0);
  s[0] = 32;
  s[1] = static_cast<u8>(first == 0 ? 0 : last - first + 1);
  auto put = [&](std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s[at + static_cast<std::size_t>(i)] = static_cast<u8>(v >> (24 - 8 * i));
  };
  put(4, first);
  put(8, last);
  put(12, last + 1);
  return s;
}

inline Blob port_states() { return Blob{1, 0x0D, 0xBC, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}; }

// A report of the incidents first..last (none when first is 0).
inline std::string report(std::uint32_t first, std::uint32_t last, unsigned trigger = 1) {
  std::vector<Blob> records;
  for (std::uint32_t s = first; first != 0 && s <= last; ++s) records.push_back(record(s));
  return build_report(trigger, summary(first, last), settings(), port_states(), records);
}

inline HttpRequest post(const std::string& target, const std::string& type, const std::string& body,
                        const std::string& iccid = kIccid) {
  HttpRequest r;
  r.method = "POST";
  r.target = target;
  r.headers = {{"host", "admin.scws.test"},
               {"x-admin-protocol", std::string(kProtocol)},
               {"x-admin-from", std::string(kFromPrefix) + iccid},
               {"content-type", type},
               {"content-length", std::to_string(body.size())}};
  r.body = body;
  return r;
}

inline std::string wire(const std::string& target, const std::string& type, const std::string& body,
                        const std::string& iccid = kIccid, const std::string& extra = "") {
  return "POST " + target + " HTTP/1.1\r\nHost: admin.scws.test\r\nX-Admin-Protocol: " + std::string(kProtocol) +
         "\r\nX-Admin-From: " + std::string(kFromPrefix) + iccid + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
}

}  // namespace scws::sim::admin::testing
