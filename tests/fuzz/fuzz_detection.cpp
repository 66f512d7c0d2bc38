// Fuzz target of the detection's parsers (card/defence/detection_settings.hpp, detector.hpp):
//   input[0] picks what the rest is:
//     even: detection settings as the admin applet's WRITE SETTINGS gives them. decode() either
//           refuses them or gives valid() settings that encode back to the same bytes; the detector
//           takes exactly the settings decode() takes.
//     odd:  the port-state object as a damaged or hostile image would hold it, then a stream of
//           security events (kind, port) run through a detector powered up on it: the port states
//           it answers stay well-formed and an incident is recorded at most once per closing.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "card/defence/detector.hpp"
#include "card/os/arena.hpp"
#include "card/os/nvm_device.hpp"
#include "card/os/transient.hpp"

using namespace scws;
using namespace scws::card;

namespace {

class NullEndpoint final : public StreamEndpoint {
 public:
  bool open(std::size_t) noexcept override { return true; }
  std::size_t receive(std::size_t, Bytes data) noexcept override { return data.size(); }
  std::size_t send(std::size_t, MutableBytes) noexcept override { return 0; }
  [[nodiscard]] bool wants_close(std::size_t) const noexcept override { return false; }
  void close(std::size_t) noexcept override {}
};

class CountingSink final : public IncidentSink {
 public:
  Result<u32, NvmError> append(Incident& incident) noexcept override {
    incident.sequence = ++count;
    return count;
  }
  u32 count = 0;
};

void settings(Bytes in) {
  DetectionSettings s;
  if (!decode(in, s)) return;
  if (!s.valid()) __builtin_trap();
  std::array<u8, DetectionSettings::kEncodedSize> out{};
  if (!encode(s, out)) __builtin_trap();
  for (std::size_t i = 0; i < out.size(); ++i)
    if (out[i] != in[i]) __builtin_trap();
}

void detector(Bytes in) {
  static std::vector<u8> image(32 * 1024);
  std::fill(image.begin(), image.end(), u8{0});
  RamNvmDevice device(image);
  Nvm nvm(device);
  ObjectStore objects(nvm);
  if (!nvm.format(2048) || !nvm.begin() || !objects.format()) __builtin_trap();
  const std::size_t state = in.size() < Detector::kPortStateSize ? in.size() : Detector::kPortStateSize;
  if (!objects.create(Detector::kPortStateObject, static_cast<u32>(state == 0 ? 1 : state))) __builtin_trap();
  if (state > 0 && !objects.write(Detector::kPortStateObject, 0, in.first(state))) __builtin_trap();
  if (!nvm.commit()) __builtin_trap();

  alignas(16) static std::array<u8, 4096> ram{};
  Arena arena(ram);
  TransientMemory transient(arena);
  Tracer tracer;
  SecurityEvents events;
  CardTime time;
  CardContext ctx(nvm, objects, arena, transient, tracer, events, time);
  NullEndpoint endpoint;
  CatToolkit toolkit;
  (void)toolkit.add_server_port(3516, 1400, endpoint, 4);
  (void)toolkit.add_server_port(10443, 1400, endpoint, 3);
  CountingSink sink;
  Detector d(toolkit, sink);
  d.power_up(ctx);
  for (std::size_t at = state; at + 1 < in.size(); at += 2) {
    const auto kind = static_cast<SecurityEventKind>(in[at] % kSecurityEventKinds);
    const u16 port = (in[at + 1] & 1) != 0 ? 10443 : (in[at + 1] & 2) != 0 ? 3516 : in[at + 1];
    const bool was_closed = d.port_closed(port);
    const u32 before = sink.count;
    events.report(kind, port, 0, 0);
    if (was_closed && sink.count != before) __builtin_trap();  // a closed port records nothing more
    if ((in[at + 1] & 0xF0) == 0xF0) time.advance(in[at + 1] & 0x0F);
    if (in[at + 1] == 0xEE) (void)d.set_port_open(ctx, port, true);
  }
  std::array<u8, Detector::kPortStatesMax> states{};
  auto n = d.read_port_states(ctx, states);
  if (!n || n.value() != 1 + states[0] * Detector::kPortReportSize) __builtin_trap();
  if (nvm.in_transaction()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const Bytes in(data + 1, size - 1);
  if ((data[0] & 1) == 0) {
    settings(in);
  } else {
    detector(in);
  }
  return 0;
}
