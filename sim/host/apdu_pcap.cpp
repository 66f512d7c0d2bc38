#include "sim/host/apdu_pcap.hpp"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "apdu/command_apdu.hpp"

namespace scws::sim {
namespace {

constexpr u8 kLoopback[4] = {127, 0, 0, 1};

// RFC 791 header checksum: one's complement of the one's complement sum of 16-bit words.
u16 ipv4_checksum(Bytes header) noexcept {
  u32 sum = 0;
  for (std::size_t i = 0; i + 1 < header.size(); i += 2) sum += (u32{header[i]} << 8) | header[i + 1];
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<u16>(~sum);
}

// pcap headers: little endian whatever the host (readers tell the order from the magic).
void put_u32_le(ByteWriter& w, u32 v) noexcept {
  for (int shift = 0; shift < 32; shift += 8) w.u8_(static_cast<u8>(v >> shift));
}
void put_u16_le(ByteWriter& w, u16 v) noexcept {
  w.u8_(static_cast<u8>(v));
  w.u8_(static_cast<u8>(v >> 8));
}

void write_all(int fd, Bytes data, const std::filesystem::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "writing trace " + path.string());
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

}  // namespace

std::size_t encode_gsmtap_sim_payload(Bytes command, Bytes response, MutableBytes out) noexcept {
  ByteWriter w(out);
  auto parsed = apdu::parse_command_apdu(command);
  if (!parsed || parsed->extended) {
    // No T=0 form (extended length) or not a valid APDU: record what was sent.
    w.bytes(command);
  } else {
    const apdu::CommandApdu& c = *parsed;
    w.u8_(c.cla);
    w.u8_(c.ins);
    w.u8_(c.p1);
    w.u8_(c.p2);
    // ISO 7816-3 12.2: P3 = Lc when there is command data, else Le (00 for 256), else 00 (case 1).
    if (!c.data.empty()) {
      w.u8_(static_cast<u8>(c.data.size()));
      w.bytes(c.data);
    } else if (c.has_le) {
      w.u8_(static_cast<u8>(c.ne == 256 ? 0 : c.ne));
    } else {
      w.u8_(0);
    }
  }
  w.bytes(response);
  return w.ok() ? w.size() : 0;
}

std::size_t encode_gsmtap_sim_packet(Bytes command, Bytes response, MutableBytes out) noexcept {
  if (out.size() < kPacketOverhead) return 0;
  std::size_t payload = encode_gsmtap_sim_payload(command, response, out.subspan(kPacketOverhead));
  if (payload == 0 && !(command.empty() && response.empty())) return 0;
  std::size_t total = kPacketOverhead + payload;
  if (total > 0xFFFF) return 0;

  ByteWriter w(out.first(kPacketOverhead));
  // IPv4 (RFC 791): version 4, IHL 5, no TOS, total length, id 0, DF, TTL 64, UDP, checksum, addresses.
  w.u8_(0x45);
  w.u8_(0x00);
  w.u16_be(static_cast<u16>(total));
  w.u16_be(0);
  w.u16_be(0x4000);
  w.u8_(64);
  w.u8_(17);
  std::size_t checksum_at = w.size();
  w.u16_be(0);  // zero while the checksum is computed
  w.bytes(kLoopback);
  w.bytes(kLoopback);
  u16 checksum = ipv4_checksum(Bytes(out.data(), kIpv4HeaderSize));
  w.patch(checksum_at, static_cast<u8>(checksum >> 8));
  w.patch(checksum_at + 1, static_cast<u8>(checksum));
  // UDP (RFC 768): checksum 0 = none, allowed over IPv4.
  w.u16_be(kGsmtapUdpPort);
  w.u16_be(kGsmtapUdpPort);
  w.u16_be(static_cast<u16>(kUdpHeaderSize + kGsmtapHeaderSize + payload));
  w.u16_be(0);
  // GSMTAP v2 header (osmocom gsmtap.h struct gsmtap_hdr): version, hdr_len in 32-bit words,
  // type, timeslot, arfcn, signal_dbm, snr_db, frame_number, sub_type, antenna_nr, sub_slot, res.
  w.u8_(kGsmtapVersion);
  w.u8_(static_cast<u8>(kGsmtapHeaderSize / 4));
  w.u8_(kGsmtapTypeSim);
  w.u8_(0);
  w.u16_be(0);
  w.u8_(0);
  w.u8_(0);
  w.u32_be(0);
  w.u8_(0);
  w.u8_(0);
  w.u8_(0);
  w.u8_(0);
  return w.ok() ? total : 0;
}

void encode_pcap_file_header(MutableBytes out) noexcept {
  ByteWriter w(out);
  put_u32_le(w, kPcapMagicMicroseconds);
  put_u16_le(w, kPcapVersionMajor);
  put_u16_le(w, kPcapVersionMinor);
  put_u32_le(w, 0);  // thiszone: timestamps are UTC
  put_u32_le(w, 0);  // sigfigs
  put_u32_le(w, kPcapSnapLength);
  put_u32_le(w, kPcapLinkTypeRaw);
}

PcapTrace::PcapTrace(const std::filesystem::path& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "creating trace " + path.string());
  u8 header[kPcapFileHeaderSize];
  encode_pcap_file_header(header);
  try {
    write_all(fd_, header, path_);
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

PcapTrace::~PcapTrace() {
  if (fd_ >= 0) ::close(fd_);
}

void PcapTrace::exchange(Bytes command, Bytes response) {
  std::vector<u8> record(kPcapRecordHeaderSize + kPacketOverhead + command.size() + 1 + response.size());
  std::size_t packet = encode_gsmtap_sim_packet(command, response, MutableBytes(record).subspan(kPcapRecordHeaderSize));
  if (packet == 0) return;  // larger than an IPv4 packet: cannot be represented, skip it
  timeval now{};
  ::gettimeofday(&now, nullptr);
  ByteWriter w(MutableBytes(record).first(kPcapRecordHeaderSize));
  put_u32_le(w, static_cast<u32>(now.tv_sec));
  put_u32_le(w, static_cast<u32>(now.tv_usec));
  put_u32_le(w, static_cast<u32>(packet));  // captured length
  put_u32_le(w, static_cast<u32>(packet));  // original length
  std::lock_guard lock(mutex_);
  write_all(fd_, Bytes(record).first(kPcapRecordHeaderSize + packet), path_);
  ++frames_;
}

u64 PcapTrace::frames() const {
  std::lock_guard lock(mutex_);
  return frames_;
}

}  // namespace scws::sim
