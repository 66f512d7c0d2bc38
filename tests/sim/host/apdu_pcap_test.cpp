#include "sim/host/apdu_pcap.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "sim/testing/child_process.hpp"

using namespace scws;
using namespace scws::sim;

namespace {

std::vector<u8> read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<u8>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

u32 le32(const std::vector<u8>& b, std::size_t at) {
  return u32{b[at]} | (u32{b[at + 1]} << 8) | (u32{b[at + 2]} << 16) | (u32{b[at + 3]} << 24);
}
u16 be16(Bytes b, std::size_t at) { return static_cast<u16>((b[at] << 8) | b[at + 1]); }

std::filesystem::path temp_path(const char* name) {
  return std::filesystem::temp_directory_path() / (std::string("scws-trace-test-") + std::to_string(::getpid()) + "-" + name);
}

struct Exchange {
  const char* what;
  std::vector<u8> command;
  std::vector<u8> response;
};

// A UICC session with the CAT messages of an SCWS start-up (docs/protocol.md sections 6 and 9).
const std::vector<Exchange> kSession = {
    {"SELECT MF (TS 102 221 11.1.1)", {0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00}, {0x90, 0x00}},
    {"SELECT EF.ICCID (TS 102 221 11.1.1)", {0x00, 0xA4, 0x00, 0x04, 0x02, 0x2F, 0xE2}, {0x90, 0x00}},
    {"READ BINARY 10 bytes (TS 102 221 11.1.3)",
     {0x00, 0xB0, 0x00, 0x00, 0x0A},
     {0x98, 0x94, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x90, 0x00}},
    {"STATUS, no data (TS 102 221 11.1.2)", {0x80, 0xF2, 0x00, 0x0C}, {0x91, 0x0F}},
    {"FETCH SET UP EVENT LIST (docs/protocol.md section 7.2)",
     {0x80, 0x12, 0x00, 0x00, 0x0F},
     {0xD0, 0x0D, 0x81, 0x03, 0x01, 0x05, 0x00, 0x82, 0x02, 0x81, 0x82, 0x99, 0x02, 0x09, 0x0A, 0x90, 0x00}},
    {"TERMINAL RESPONSE (docs/protocol.md section 7.2)",
     {0x80, 0x14, 0x00, 0x00, 0x0C, 0x81, 0x03, 0x01, 0x05, 0x00, 0x82, 0x02, 0x82, 0x81, 0x83, 0x01, 0x00},
     {0x90, 0x00}},
    {"ENVELOPE channel status ESTABLISHED (docs/protocol.md section 7.4)",
     {0x80, 0xC2, 0x00, 0x00, 0x0D, 0xD6, 0x0B, 0x99, 0x01, 0x0A, 0x82, 0x02, 0x82, 0x81, 0xB8, 0x02, 0x81, 0x00},
     {0x90, 0x00}},
};

}  // namespace

TEST_CASE("pcap trace file header declares pcap 2.4 with raw IPv4 link type") {
  u8 header[kPcapFileHeaderSize];
  encode_pcap_file_header(header);
  // pcap file format (tcpdump.org): magic, version 2.4, thiszone, sigfigs, snaplen, network.
  const u8 expected[] = {0xD4, 0xC3, 0xB2, 0xA1, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
                         0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x65, 0x00, 0x00, 0x00};
  CHECK(bytes_equal(header, expected));
}

TEST_CASE("gsmtap sim packet is IPv4 UDP to port 4729 with a GSMTAP v2 SIM header") {
  const u8 command[] = {0x80, 0xF2, 0x00, 0x0C};
  const u8 response[] = {0x90, 0x00};
  u8 out[128];
  std::size_t n = encode_gsmtap_sim_packet(command, response, out);
  REQUIRE(n == kPacketOverhead + 7);
  Bytes p(out, n);
  // RFC 791: version 4, IHL 5, total length, TTL, protocol 17 = UDP, 127.0.0.1 both ways.
  CHECK(p[0] == 0x45);
  CHECK(be16(p, 2) == n);
  CHECK(p[9] == 17);
  const u8 loopback[] = {127, 0, 0, 1};
  CHECK(bytes_equal(p.subspan(12, 4), loopback));
  CHECK(bytes_equal(p.subspan(16, 4), loopback));
  // The header checksum makes the one's complement sum of the header 0xFFFF.
  u32 sum = 0;
  for (std::size_t i = 0; i < 20; i += 2) sum += be16(p, i);
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  CHECK(sum == 0xFFFF);
  // RFC 768: ports 4729 (GSMTAP), length = 8 + GSMTAP header + payload.
  CHECK(be16(p, 20) == 4729);
  CHECK(be16(p, 22) == 4729);
  CHECK(be16(p, 24) == n - 20);
  // osmocom gsmtap.h: version 2, hdr_len 4 words, type 4 = SIM.
  CHECK(p[28] == 2);
  CHECK(p[29] == 4);
  CHECK(p[30] == 4);
  const u8 payload[] = {0x80, 0xF2, 0x00, 0x0C, 0x00, 0x90, 0x00};
  CHECK(bytes_equal(p.subspan(kPacketOverhead), payload));
}

TEST_CASE("gsmtap sim payload puts every APDU case in its T=0 form") {
  struct Row {
    const char* what;
    std::vector<u8> command;
    std::vector<u8> response;
    std::vector<u8> payload;
  };
  // ISO 7816-3 12.2 (T=0 mapping): P3 = Lc with data, else Le, else 00; Le of a case 4 is not sent.
  const Row rows[] = {
      {"case 1: P3 00 added", {0x80, 0xF2, 0x00, 0x0C}, {0x90, 0x00}, {0x80, 0xF2, 0x00, 0x0C, 0x00, 0x90, 0x00}},
      {"case 2: P3 = Le", {0x00, 0xB0, 0x00, 0x00, 0x02}, {0xAA, 0xBB, 0x90, 0x00},
       {0x00, 0xB0, 0x00, 0x00, 0x02, 0xAA, 0xBB, 0x90, 0x00}},
      {"case 2 with Le 00 (256)", {0x00, 0xB0, 0x00, 0x00, 0x00}, {0x6B, 0x00}, {0x00, 0xB0, 0x00, 0x00, 0x00, 0x6B, 0x00}},
      {"case 3: P3 = Lc", {0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00}, {0x90, 0x00},
       {0x00, 0xA4, 0x00, 0x04, 0x02, 0x3F, 0x00, 0x90, 0x00}},
      {"case 4: Le dropped", {0x00, 0xA4, 0x04, 0x04, 0x02, 0x3F, 0x00, 0x00}, {0x62, 0x01, 0x90, 0x00},
       {0x00, 0xA4, 0x04, 0x04, 0x02, 0x3F, 0x00, 0x62, 0x01, 0x90, 0x00}},
      {"extended length: as sent", {0x00, 0xD6, 0x00, 0x00, 0x00, 0x00, 0x01, 0x55}, {0x90, 0x00},
       {0x00, 0xD6, 0x00, 0x00, 0x00, 0x00, 0x01, 0x55, 0x90, 0x00}},
      {"too short to parse: as sent", {0x00, 0xA4}, {0x67, 0x00}, {0x00, 0xA4, 0x67, 0x00}},
  };
  for (const auto& row : rows) {
    CAPTURE(row.what);
    u8 out[64];
    std::size_t n = encode_gsmtap_sim_payload(row.command, row.response, out);
    CHECK(std::vector<u8>(out, out + n) == row.payload);
  }
}

TEST_CASE("gsmtap sim packet refuses an output buffer that is too small") {
  const u8 command[] = {0x80, 0xF2, 0x00, 0x0C};
  const u8 response[] = {0x90, 0x00};
  u8 out[kPacketOverhead + 6];
  CHECK(encode_gsmtap_sim_packet(command, response, out) == 0);
}

TEST_CASE("pcap trace file holds one complete record per exchange as soon as it is traced") {
  auto path = temp_path("records.pcap");
  {
    PcapTrace trace(path);
    CHECK(read_file(path).size() == kPcapFileHeaderSize);
    for (std::size_t i = 0; i < kSession.size(); ++i) {
      trace.exchange(kSession[i].command, kSession[i].response);
      // Readable right away: a killed process leaves every traced exchange in the file.
      auto bytes = read_file(path);
      std::size_t at = kPcapFileHeaderSize;
      std::size_t records = 0;
      while (at + kPcapRecordHeaderSize <= bytes.size()) {
        u32 caplen = le32(bytes, at + 8);
        CHECK(le32(bytes, at + 12) == caplen);
        at += kPcapRecordHeaderSize + caplen;
        ++records;
      }
      CHECK(at == bytes.size());
      CHECK(records == i + 1);
    }
    CHECK(trace.frames() == kSession.size());
  }
  std::filesystem::remove(path);
}

TEST_CASE("pcap trace refuses a path it cannot create") {
  CHECK_THROWS_AS(PcapTrace("/nonexistent-dir-scws/trace.pcap"), std::system_error);
}

TEST_CASE("tshark decodes a traced UICC session as gsm_sim frames without malformed packets") {
  const auto tshark = scws::sim::find_program("tshark");
  if (!tshark) {
    MESSAGE("tshark not installed: decode check skipped");
    return;
  }
  auto path = temp_path("tshark.pcap");
  {
    PcapTrace trace(path);
    for (const auto& e : kSession) trace.exchange(e.command, e.response);
  }
  const auto decoded = scws::sim::ChildProcess::run({tshark->string(), "-n", "-r", path.string(), "-V"}, std::nullopt,
                                                    scws::sim::ChildProcess::Stderr::kDiscard, std::chrono::seconds(60));
  REQUIRE(decoded.exit_code == 0);
  const std::string& text = decoded.out;
  CHECK(text.find("GSM SIM 11.11") != std::string::npos);
  for (const char* ins : {"SELECT", "READ BINARY", "STATUS", "FETCH", "TERMINAL RESPONSE", "ENVELOPE"}) {
    CAPTURE(ins);
    CHECK(text.find(ins) != std::string::npos);
  }
  CHECK(text.find("Malformed") == std::string::npos);
  CHECK(text.find("Expert Info (Error") == std::string::npos);
  // The CAT dissector decodes the proactive command and the event download inside the APDUs.
  CHECK(text.find("Event list") != std::string::npos);
  std::filesystem::remove(path);
}
