// APDU traces as pcap files that Wireshark and tshark decode: every command/response exchange is
// one GSMTAP frame of type SIM (osmocom GSMTAP v2, gsmtap.h: GSMTAP_TYPE_SIM = 4) in a UDP
// datagram to port 4729 (GSMTAP_UDP_PORT) in an IPv4 packet, written with pcap link type 101
// (LINKTYPE_RAW: the packet starts at the IP header). The GSMTAP payload is the exchange as the
// simtrace tools record it and the gsm_sim dissector reads it: the 5-byte T=0 command header
// (CLA INS P1 P2 P3), the command data, the response data, then SW1 SW2.
//
// Each record reaches the file with one write(2) as soon as it is traced, so a killed process
// leaves a readable file (at worst without the exchange it was writing).
#pragma once

#include <cstddef>
#include <filesystem>
#include <mutex>

#include "base/bytes.hpp"

namespace scws::sim {

inline constexpr u32 kPcapMagicMicroseconds = 0xA1B2C3D4;  // pcap file format, usec timestamps
inline constexpr u16 kPcapVersionMajor = 2;
inline constexpr u16 kPcapVersionMinor = 4;
inline constexpr u32 kPcapLinkTypeRaw = 101;    // LINKTYPE_RAW (tcpdump.org link-layer types)
inline constexpr u32 kPcapSnapLength = 262144;
inline constexpr std::size_t kPcapFileHeaderSize = 24;
inline constexpr std::size_t kPcapRecordHeaderSize = 16;

inline constexpr u16 kGsmtapUdpPort = 4729;     // GSMTAP_UDP_PORT (IANA "gsmtap")
inline constexpr u8 kGsmtapVersion = 2;         // GSMTAP_VERSION
inline constexpr u8 kGsmtapTypeSim = 4;         // GSMTAP_TYPE_SIM
inline constexpr std::size_t kGsmtapHeaderSize = 16;  // hdr_len = 4 words
inline constexpr std::size_t kIpv4HeaderSize = 20;
inline constexpr std::size_t kUdpHeaderSize = 8;
inline constexpr std::size_t kPacketOverhead = kIpv4HeaderSize + kUdpHeaderSize + kGsmtapHeaderSize;

// GSMTAP payload of one exchange: 5-byte header (P3 = Lc for a command with data, else Le, else 00;
// ISO 7816-3 12.2 T=0 mapping), command data, response (data + SW). An extended-length command has
// no T=0 form: it is written as sent. Returns the size, or 0 when out is too small.
std::size_t encode_gsmtap_sim_payload(Bytes command, Bytes response, MutableBytes out) noexcept;

// IPv4 + UDP + GSMTAP header + payload for one exchange. Returns the size, or 0 when out is too
// small or the packet would exceed 65535 bytes.
std::size_t encode_gsmtap_sim_packet(Bytes command, Bytes response, MutableBytes out) noexcept;

// 24-byte pcap file header for link type LINKTYPE_RAW. pcap headers are little endian here (readers
// tell the byte order from the magic); the packet itself is in network order.
void encode_pcap_file_header(MutableBytes out) noexcept;

// Receives every APDU exchange; the gateway, `scws run`, `scws apdu` and `scws card` feed one.
class ApduTraceSink {
 public:
  virtual ~ApduTraceSink() = default;
  virtual void exchange(Bytes command, Bytes response) = 0;
};

// A pcap file of GSMTAP SIM frames. Thread-safe: several links may share one file.
class PcapTrace final : public ApduTraceSink {
 public:
  // Creates (truncates) the file and writes the pcap header. Throws std::system_error on failure.
  explicit PcapTrace(const std::filesystem::path& path);
  ~PcapTrace() override;
  PcapTrace(const PcapTrace&) = delete;
  PcapTrace& operator=(const PcapTrace&) = delete;

  // Appends one frame stamped with the current wall-clock time. Throws std::system_error when the
  // write fails (disk full): a trace that silently loses frames would mislead.
  void exchange(Bytes command, Bytes response) override;
  [[nodiscard]] u64 frames() const;
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  mutable std::mutex mutex_;
  u64 frames_ = 0;
};

}  // namespace scws::sim
