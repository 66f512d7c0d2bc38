#include "card/defence/admin_applet.hpp"

#include "apdu/command_apdu.hpp"

namespace scws::card {
namespace {

Status<CardError> nvm(Status<NvmError> s) noexcept {
  if (!s) return fail(to_card_error(s.error()));
  return {};
}

bool known_ins(u8 ins) noexcept {
  switch (ins) {
    case AdminApplet::kInsQueueSummary:
    case AdminApplet::kInsReadIncident:
    case AdminApplet::kInsAcknowledge:
    case AdminApplet::kInsReadSettings:
    case AdminApplet::kInsWriteSettings:
    case AdminApplet::kInsReadPortStates:
    case AdminApplet::kInsSetPort:
      return true;
    default:
      return false;
  }
}

// The parameters each command takes (see the header): P1 P2, then the data's length.
Status<CardError> check_parameters(const apdu::CommandApdu& c) noexcept {
  const bool p1_free = c.ins == AdminApplet::kInsReadIncident;
  const bool p1_open_close = c.ins == AdminApplet::kInsSetPort;
  if (c.p2 != 0) return fail(CardError::kIncorrectP1P2);
  if (p1_open_close && c.p1 != AdminApplet::kSetPortClose && c.p1 != AdminApplet::kSetPortOpen)
    return fail(CardError::kIncorrectP1P2);
  if (!p1_free && !p1_open_close && c.p1 != 0) return fail(CardError::kIncorrectP1P2);
  std::size_t data = 0;
  switch (c.ins) {
    case AdminApplet::kInsAcknowledge: data = 4; break;
    case AdminApplet::kInsSetPort: data = 2; break;
    case AdminApplet::kInsWriteSettings: return c.data.empty() ? fail(CardError::kWrongLength) : Status<CardError>{};
    default: break;
  }
  if (c.data.size() != data) return fail(CardError::kWrongLength);
  return {};
}

}  // namespace

Status<CardError> AdminApplet::install(CardContext& ctx) noexcept {
  (void)ctx;
  return {};
}

Status<CardError> AdminApplet::on_power_up(CardContext& ctx) noexcept {
  auto up = queue_.power_up(ctx.objects(), &ctx.trace());
  if (control_ != nullptr) control_->power_up(ctx);  // detection runs even when the queue cannot record
  return nvm(up);
}

bool AdminApplet::select(CardContext& ctx, u8 channel) noexcept {
  (void)ctx;
  (void)channel;
  return true;  // selecting reveals nothing; every command checks the access condition
}

void AdminApplet::deselect(CardContext& ctx, u8 channel) noexcept {
  (void)ctx;
  (void)channel;
}

std::size_t AdminApplet::write_summary(const IncidentQueueSummary& s, MutableBytes out) noexcept {
  if (out.size() < kSummarySize) return 0;
  ByteWriter w(out.first(kSummarySize));
  w.u8_(s.capacity);
  w.u8_(s.count);
  w.u8_(s.damaged_at_power_up ? kSummaryFlagDamaged : 0);
  w.u8_(0);
  w.u32_be(s.first_sequence);
  w.u32_be(s.last_sequence);
  w.u32_be(s.next_sequence);
  w.u32_be(s.dropped);
  return w.size();
}

Result<ApduOutcome, CardError> AdminApplet::process(CardContext& ctx, const ApduRequest& request) noexcept {
  if (request.selecting) return ApduOutcome{};  // the card OS answers with the default FCI
  const apdu::CommandApdu& c = request.command;
  if (!apdu::is_proprietary_cla(c.cla)) return fail(CardError::kClaNotSupported);
  if (!known_ins(c.ins)) return fail(CardError::kInsNotSupported);
  // The access condition first: without it nothing about the command is examined further.
  if (!ctx.administrator()) return fail(CardError::kSecurityStatusNotSatisfied);
  SCWS_TRY(check_parameters(c));
  switch (c.ins) {
    case kInsQueueSummary:
    case kInsReadIncident:
    case kInsAcknowledge:
      return queue_command(c, request.response);
    default:
      return control_command(ctx, c, request.response);
  }
}

Result<ApduOutcome, CardError> AdminApplet::queue_command(const apdu::CommandApdu& c, MutableBytes out) noexcept {
  switch (c.ins) {
    case kInsQueueSummary: {
      auto s = queue_.summary();
      if (!s) return fail(to_card_error(s.error()));
      const std::size_t n = write_summary(*s, out);
      if (n == 0) return fail(CardError::kTechnicalProblem);
      return ApduOutcome{n, Completion::kNormal};
    }
    case kInsReadIncident: {
      if (out.size() < IncidentQueue::kRecordSize) return fail(CardError::kTechnicalProblem);
      auto r = queue_.record(c.p1, out);
      if (!r) return fail(r.error() == NvmError::kNotFound ? CardError::kRecordNotFound : to_card_error(r.error()));
      return ApduOutcome{IncidentQueue::kRecordSize, Completion::kNormal};
    }
    default: {  // kInsAcknowledge
      auto r = queue_.acknowledge(load_be32(c.data.data()));
      if (!r) return fail(r.error() == NvmError::kOutOfRange ? CardError::kWrongData : to_card_error(r.error()));
      return ApduOutcome{};
    }
  }
}

Result<ApduOutcome, CardError> AdminApplet::control_command(CardContext& ctx, const apdu::CommandApdu& c,
                                                            MutableBytes out) noexcept {
  if (control_ == nullptr) return fail(CardError::kFunctionNotSupported);
  switch (c.ins) {
    case kInsReadSettings: {
      auto n = control_->read_settings(ctx, out);
      if (!n) return fail(n.error());
      return ApduOutcome{*n, Completion::kNormal};
    }
    case kInsWriteSettings: {
      SCWS_TRY(control_->write_settings(ctx, c.data));
      return ApduOutcome{};
    }
    case kInsReadPortStates: {
      auto n = control_->read_port_states(ctx, out);
      if (!n) return fail(n.error());
      return ApduOutcome{*n, Completion::kNormal};
    }
    default: {  // kInsSetPort
      const u16 port = static_cast<u16>((c.data[0] << 8) | c.data[1]);
      SCWS_TRY(control_->set_port_open(ctx, port, c.p1 == kSetPortOpen));
      return ApduOutcome{};
    }
  }
}

}  // namespace scws::card
