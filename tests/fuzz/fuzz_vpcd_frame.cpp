// libFuzzer target for the vpcd framing parser (sim/host/vpcd_frame.hpp). The input is a byte stream
// from vpcd. Properties checked beyond "no crash": the frames and the error are the same whether
// the stream arrives in one piece, byte by byte or in pieces whose sizes come from the input; a
// frame never exceeds the buffer; a failed parser consumes nothing more.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "sim/host/vpcd_frame.hpp"

namespace {

using scws::Bytes;
using scws::MutableBytes;
using scws::u8;
using scws::sim::VpcdFrameParser;

struct Outcome {
  std::vector<std::vector<u8>> frames;  // kind byte + APDU bytes
  bool failed = false;
  scws::sim::VpcdFrameError error{};
  bool operator==(const Outcome&) const = default;
};

constexpr std::size_t kBuffer = 300;  // small, so kFrameTooLarge is reachable

// chunk(i) gives the size of the i-th piece (>= 1).
template <class Chunk>
Outcome parse(Bytes input, Chunk chunk) {
  std::vector<u8> buffer(kBuffer);
  VpcdFrameParser parser{MutableBytes(buffer)};
  Outcome out;
  std::size_t at = 0;
  for (std::size_t piece = 0; at < input.size(); ++piece) {
    std::size_t n = chunk(piece);
    if (n > input.size() - at) n = input.size() - at;
    Bytes rest = input.subspan(at, n);
    at += n;
    while (!rest.empty()) {
      auto step = parser.feed(rest);
      if (step.consumed > rest.size()) std::abort();
      rest = rest.subspan(step.consumed);
      if (step.event == VpcdFrameParser::Event::kFrame) {
        const auto& r = parser.request();
        if (r.apdu.size() > kBuffer) std::abort();
        std::vector<u8> f{static_cast<u8>(r.kind)};
        f.insert(f.end(), r.apdu.begin(), r.apdu.end());
        out.frames.push_back(std::move(f));
      } else if (step.event == VpcdFrameParser::Event::kError) {
        out.failed = true;
        out.error = parser.error();
        if (parser.feed(rest).consumed != 0) std::abort();  // sticky
        return out;
      } else if (!rest.empty()) {
        std::abort();  // kNeedMore must consume everything
      }
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes input(data, size);
  Outcome whole = parse(input, [&](std::size_t) { return size == 0 ? 1 : size; });
  Outcome bytewise = parse(input, [](std::size_t) { return std::size_t{1}; });
  // Piece sizes drawn from the input itself (1..16), so the fuzzer explores the splits too.
  Outcome pieces = parse(input, [&](std::size_t i) { return size == 0 ? 1 : 1 + data[i % size] % 16; });
  if (!(whole == bytewise) || !(whole == pieces)) std::abort();
  return 0;
}
