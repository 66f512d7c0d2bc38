// scws-admin-test-client: a card's side of one admin session for the e2e tests (OpenSSL TLS-PSK,
// sim/testing/psk_client.hpp). Posts a report with incidents FIRST..LAST (the records a card
// with ICCID would send), answers every script with 90 00 for each C-APDU, until 204.
//   scws-admin-test-client HOST PORT IDENTITY HEXKEY ICCID FIRST LAST
// Prints "status N" per answer and "apdus N" per script; exit 0 when the session ended with 204.
#include <iostream>
#include <string>

#include "admin_fixtures.hpp"
#include "sim/testing/psk_client.hpp"

using namespace scws::sim::admin;
using namespace scws::sim::admin::testing;

int main(int argc, char** argv) {
  if (argc != 8) {
    std::cerr << "usage: scws-admin-test-client HOST PORT IDENTITY HEXKEY ICCID FIRST LAST\n";
    return 2;
  }
  try {
    const std::string iccid = argv[5];
    const auto first = static_cast<std::uint32_t>(std::stoul(argv[6]));
    const auto last = static_cast<std::uint32_t>(std::stoul(argv[7]));
    std::vector<Blob> records;
    for (std::uint32_t s = first; first != 0 && s <= last; ++s) {
      Blob r = record(s);
      // The record carries the card's ICCID (EF.ICCID bytes): rewrite it and its CRC via serialize.
      scws::card::Incident in = scws::card::IncidentQueue::parse(scws::Bytes(r.data(), r.size())).value();
      in.iccid = iccid_bcd(iccid);
      scws::card::IncidentQueue::serialize(in, scws::MutableBytes(r.data(), r.size()));
      records.push_back(r);
    }
    const std::string body = build_report(1, summary(first, last), settings(), port_states(), records);
    PskClient client(argv[1], static_cast<std::uint16_t>(std::stoul(argv[2])), argv[3], from_hex(argv[4]));
    HttpAnswer a = client.request(wire("/scws/admin", std::string(kReportType), body, iccid));
    for (int round = 0; round < 64; ++round) {
      std::cout << "status " << a.status << std::endl;
      if (a.status != 200) return a.status == 204 ? 0 : 1;
      const auto apdus = parse_script(a.body);
      std::cout << "apdus " << apdus.size() << std::endl;
      std::vector<RApdu> ok(apdus.size(), RApdu{{}, 0x9000});
      a = client.request(wire(a.header("x-admin-next-uri"), std::string(kResponseType),
                              build_response_script(static_cast<unsigned>(apdus.size()), ok), iccid));
    }
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "scws-admin-test-client: " << e.what() << std::endl;
    return 1;
  }
}
