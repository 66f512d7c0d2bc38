#include "card/defence/admin_applet.hpp"

#include "apdu/command_apdu.hpp"
#include "card/defence/admin_link.hpp"
#include "card/defence/remote_nodes.hpp"
#include "card/defence/resource_staging.hpp"

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
    case AdminApplet::kInsPutResource:
    case AdminApplet::kInsDeleteResource:
    case AdminApplet::kInsPutUser:
    case AdminApplet::kInsDeleteUser:
    case AdminApplet::kInsPutRemoteNodes:
    case AdminApplet::kInsReadRemoteNodes:
    case AdminApplet::kInsRotatePsk:
    case AdminApplet::kInsStartSession:
      return true;
    default:
      return false;
  }
}

// The parameters each command takes (see the header): P1 P2, then the data's length.
Status<CardError> check_parameters(const apdu::CommandApdu& c) noexcept {
  if (c.p2 != 0) return fail(CardError::kIncorrectP1P2);
  u8 max_p1 = 0;
  switch (c.ins) {
    case AdminApplet::kInsReadIncident: max_p1 = 0xFF; break;
    case AdminApplet::kInsSetPort: max_p1 = AdminApplet::kSetPortOpen; break;
    case AdminApplet::kInsPutResource: max_p1 = AdminApplet::kPutResourcePublish; break;
    case AdminApplet::kInsRotatePsk: max_p1 = AdminApplet::kRotateTlsPsk; break;
    default: break;
  }
  if (c.p1 > max_p1) return fail(CardError::kIncorrectP1P2);
  std::size_t data = 0;
  switch (c.ins) {
    case AdminApplet::kInsAcknowledge: data = 4; break;
    case AdminApplet::kInsSetPort: data = 2; break;
    case AdminApplet::kInsPutResource:
      if (c.p1 == AdminApplet::kPutResourcePublish) break;
      [[fallthrough]];
    case AdminApplet::kInsWriteSettings:
    case AdminApplet::kInsDeleteResource:
    case AdminApplet::kInsPutUser:
    case AdminApplet::kInsDeleteUser:
    case AdminApplet::kInsPutRemoteNodes:
    case AdminApplet::kInsRotatePsk:
      return c.data.empty() ? fail(CardError::kWrongLength) : Status<CardError>{};
    default: break;
  }
  if (c.data.size() != data) return fail(CardError::kWrongLength);
  return {};
}

// Runs body in a transaction of its own: the command changes the card entirely or not at all.
template <class Body>
Status<CardError> one_transaction(CardContext& ctx, Body&& body) noexcept {
  SCWS_TRY(ctx.begin_transaction());
  Status<CardError> s = body();
  if (!s) {
    (void)ctx.abort_transaction();
    return s;
  }
  return ctx.commit_transaction();
}

std::string_view text(Bytes b) noexcept { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// A length-prefixed field (u8 length, bytes); empty when it runs past the data.
Bytes field(ByteReader& r) noexcept { return r.take(r.u8_()); }

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
    case kInsReadSettings:
    case kInsWriteSettings:
    case kInsReadPortStates:
    case kInsSetPort:
      return control_command(ctx, c, request.response);
    default:
      return admin_command(ctx, c, request.response);
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

Result<ApduOutcome, CardError> AdminApplet::admin_command(CardContext& ctx, const apdu::CommandApdu& c,
                                                          MutableBytes out) noexcept {
  switch (c.ins) {
    case kInsPutRemoteNodes: {
      RemoteNodes nodes;
      if (!decode(c.data, nodes)) return fail(CardError::kWrongData);
      SCWS_TRY(one_transaction(ctx, [&]() noexcept { return nvm(store_remote_nodes(ctx.objects(), nodes)); }));
      return ApduOutcome{};
    }
    case kInsReadRemoteNodes: {
      RemoteNodes nodes;
      SCWS_TRY(nvm(load_remote_nodes(ctx.objects(), nodes)));
      const std::size_t n = encode(nodes, out);
      if (n == 0) return fail(CardError::kTechnicalProblem);
      return ApduOutcome{n, Completion::kNormal};
    }
    case kInsRotatePsk:
      SCWS_TRY(rotate_psk(ctx, c));
      return ApduOutcome{};
    case kInsStartSession:
      if (session_ == nullptr) return fail(CardError::kFunctionNotSupported);
      SCWS_TRY(session_->start_session(ctx));
      return ApduOutcome{};
    default:
      break;
  }
  // The content and user commands.
  if (content_ == nullptr) return fail(CardError::kFunctionNotSupported);
  switch (c.ins) {
    case kInsPutResource:
      SCWS_TRY(put_resource(ctx, c));
      return ApduOutcome{};
    case kInsDeleteResource:
      SCWS_TRY(one_transaction(ctx, [&]() noexcept { return content_->remove_resource(ctx, text(c.data)); }));
      return ApduOutcome{};
    case kInsPutUser:
      SCWS_TRY(put_user(ctx, c.data));
      return ApduOutcome{};
    default:  // kInsDeleteUser
      SCWS_TRY(one_transaction(ctx, [&]() noexcept { return content_->remove_user(ctx, text(c.data)); }));
      return ApduOutcome{};
  }
}

Status<CardError> AdminApplet::put_resource(CardContext& ctx, const apdu::CommandApdu& c) noexcept {
  ObjectStore& objects = ctx.objects();
  // Staging errors: nothing staged (or a damaged staging object) is "conditions not satisfied";
  // bytes past the announced length or a bad field are wrong data.
  const auto staged = [](Status<NvmError> s) noexcept -> Status<CardError> {
    if (s) return {};
    switch (s.error()) {
      case NvmError::kNotFound:
      case NvmError::kCorruptData:
        return fail(CardError::kConditionsNotSatisfied);
      case NvmError::kOutOfRange:
        return fail(CardError::kWrongData);
      default:
        return fail(to_card_error(s.error()));
    }
  };
  switch (c.p1) {
    case kPutResourceBegin: {
      ByteReader r(c.data);
      const u32 length = r.u32_be();
      const Bytes path = field(r);
      const Bytes type = field(r);
      if (!r.ok() || !r.at_end() || path.empty() || type.empty()) return fail(CardError::kWrongData);
      if (length > StagedResource::kMaxLength) return fail(CardError::kWrongData);
      SCWS_TRY(content_->check_resource(text(path), text(type), length));
      return one_transaction(ctx, [&]() noexcept {
        return staged(staging_begin(objects, text(path), text(type), length));
      });
    }
    case kPutResourceData:
      return one_transaction(ctx, [&]() noexcept { return staged(staging_append(objects, c.data)); });
    default:  // kPutResourcePublish
      return publish_resource(ctx);
  }
}

Status<CardError> AdminApplet::publish_resource(CardContext& ctx) noexcept {
  ObjectStore& objects = ctx.objects();
  StagedResource head;
  if (auto h = staging_read_head(objects, head); !h) {
    const bool absent = h.error() == NvmError::kNotFound || h.error() == NvmError::kCorruptData;
    return fail(absent ? CardError::kConditionsNotSatisfied : to_card_error(h.error()));
  }
  if (!head.complete()) return fail(CardError::kConditionsNotSatisfied);
  // One transaction: the resource appears (or replaces the old one) and the staging object goes
  // together. Bodies created in it are filled through the NVM's fresh-region path, not the journal.
  return one_transaction(ctx, [&]() noexcept -> Status<CardError> {
    SCWS_TRY(content_->begin_resource(ctx, head.path_view(), head.type_view(), head.length));
    u8 piece[240];
    for (u32 at = 0; at < head.length;) {
      const u32 n = head.length - at < sizeof piece ? head.length - at : static_cast<u32>(sizeof piece);
      SCWS_TRY(nvm(staging_read_body(objects, at, MutableBytes(piece, n))));
      SCWS_TRY(content_->append_resource(ctx, Bytes(piece, n)));
      at += n;
    }
    SCWS_TRY(content_->finish_resource(ctx));
    return nvm(objects.remove(kStagingObject));
  });
}

Status<CardError> AdminApplet::put_user(CardContext& ctx, Bytes data) noexcept {
  ByteReader r(data);
  const Bytes name = field(r);
  const Bytes password = field(r);
  const u8 count = r.u8_();
  if (!r.ok() || name.empty() || count > ContentControl::kMaxUserSets) return fail(CardError::kWrongData);
  std::string_view sets[ContentControl::kMaxUserSets];
  for (u8 i = 0; i < count; ++i) {
    sets[i] = text(field(r));
    if (!r.ok() || sets[i].empty()) return fail(CardError::kWrongData);
  }
  if (!r.at_end()) return fail(CardError::kWrongData);
  return one_transaction(ctx, [&]() noexcept {
    return content_->put_user(ctx, text(name), text(password), std::span<const std::string_view>(sets, count));
  });
}

Status<CardError> AdminApplet::rotate_psk(CardContext& ctx, const apdu::CommandApdu& c) noexcept {
  if (c.p1 == kRotateLinkPsk) {
    if (c.data.size() < AdminPsk::kMinKey || c.data.size() > AdminPsk::kMaxKey) return fail(CardError::kWrongData);
    return one_transaction(ctx, [&]() noexcept -> Status<CardError> {
      auto s = rotate_admin_psk(ctx.objects(), c.data);
      if (!s) return fail(s.error() == NvmError::kOutOfRange ? CardError::kWrongData : to_card_error(s.error()));
      return {};
    });
  }
  // A TLS port PSK: the same bounds as the link's (an identity of 1-64 bytes, a key of 16-32).
  ByteReader r(c.data);
  const Bytes identity = field(r);
  const Bytes key = field(r);
  if (!r.ok() || !r.at_end() || identity.empty() || identity.size() > AdminPsk::kMaxIdentity ||
      key.size() < AdminPsk::kMinKey || key.size() > AdminPsk::kMaxKey)
    return fail(CardError::kWrongData);
  if (content_ == nullptr) return fail(CardError::kFunctionNotSupported);
  return one_transaction(ctx, [&]() noexcept { return content_->put_tls_psk(ctx, identity, key); });
}

}  // namespace scws::card
