#include "card/examples/note_applet.hpp"

#include "apdu/command_apdu.hpp"

namespace scws::card::examples {
namespace {

// What a GET keeps between the pieces of its response (the connection's extension state).
struct ReadState {
  NoteApplet* self;
  u32 epoch;   // of the slot when the response started
  u16 length;
  u8 slot;
};
static_assert(sizeof(ReadState) <= http::kExtensionStateSize);

// What a PUT keeps between the pieces of its body.
struct UploadState {
  u32 writer;    // its ticket; another writer since means superseded
  u16 received;  // body bytes written into the spare slot so far
  u8 slot;
};
static_assert(sizeof(UploadState) <= http::kExtensionStateSize);

constexpr u32 slot_offset(u8 slot) noexcept { return NoteApplet::kSlotOffset + NoteApplet::kMaxNote * slot; }
constexpr u32 length_offset(u8 slot) noexcept { return NoteApplet::kLengthOffset + 2U * slot; }

Status<CardError> nvm(Status<NvmError> s) noexcept {
  if (!s) return fail(to_card_error(s.error()));
  return {};
}

}  // namespace

Status<CardError> NoteApplet::install(CardContext& ctx) noexcept {
  // Runs inside the transaction the card OS opens for installation: both changes or neither.
  auto created = ctx.objects().create(kNoteObject, kObjectSize);  // zero-filled: slot 0, empty
  if (!created) return fail(to_card_error(created.error()));
  u8 magic[4];
  store_be32(magic, kMagic);
  return nvm(ctx.objects().write(kNoteObject, 0, magic));
}

Status<CardError> NoteApplet::on_power_up(CardContext& ctx) noexcept {
  ctx_ = &ctx;
  writer_ = 0;
  epoch_[0] = epoch_[1] = 0;
  return {};
}

bool NoteApplet::select(CardContext& ctx, u8 channel) noexcept {
  (void)ctx;
  (void)channel;
  return true;
}

void NoteApplet::deselect(CardContext& ctx, u8 channel) noexcept {
  (void)ctx;
  (void)channel;
}

Result<NoteApplet::Current, CardError> NoteApplet::current() noexcept {
  if (ctx_ == nullptr) return fail(CardError::kTechnicalProblem);
  u8 header[kSlotOffset];
  SCWS_TRY(nvm(ctx_->objects().read(kNoteObject, 0, header)));
  ByteReader r(header);
  const u32 magic = r.u32_be();
  const u8 slot = r.u8_();
  r.u8_();
  const u16 lengths[2] = {r.u16_be(), r.u16_be()};
  // A damaged object is reported, never served.
  if (!r.ok() || magic != kMagic || slot > 1 || lengths[slot] > kMaxNote) return fail(CardError::kTechnicalProblem);
  return Current{slot, lengths[slot]};
}

u32 NoteApplet::claim_spare(u8 slot) noexcept {
  ++epoch_[slot];
  return ++writer_;
}

Status<CardError> NoteApplet::write_spare(u8 slot, u32 offset, Bytes piece) noexcept {
  // Joins the caller's transaction (PUT NOTE) or makes this piece one of its own (HTTP body).
  TransactionScope transaction(ctx_->nvm());
  SCWS_TRY(nvm(transaction.begin()));
  SCWS_TRY(nvm(ctx_->objects().write(kNoteObject, slot_offset(slot) + offset, piece)));
  ++epoch_[slot];
  return nvm(transaction.commit());
}

Status<CardError> NoteApplet::make_current(u8 slot, u16 length) noexcept {
  const u8 length_be[2] = {static_cast<u8>(length >> 8), static_cast<u8>(length)};
  const u8 current_slot[1] = {slot};
  TransactionScope transaction(ctx_->nvm());
  SCWS_TRY(nvm(transaction.begin()));
  SCWS_TRY(nvm(ctx_->objects().write(kNoteObject, length_offset(slot), length_be)));
  SCWS_TRY(nvm(ctx_->objects().write(kNoteObject, kCurrentOffset, current_slot)));
  return nvm(transaction.commit());
}

Result<std::size_t, CardError> NoteApplet::read_note(MutableBytes out) noexcept {
  auto cur = current();
  if (!cur) return fail(cur.error());
  if (out.size() < cur->length) return fail(CardError::kWrongLength);
  SCWS_TRY(nvm(ctx_->objects().read(kNoteObject, slot_offset(cur->slot), out.first(cur->length))));
  return std::size_t{cur->length};
}

Result<ApduOutcome, CardError> NoteApplet::process(CardContext& ctx, const ApduRequest& request) noexcept {
  (void)ctx;  // the same context as at power-up
  if (request.selecting) return ApduOutcome{};  // the card OS answers with the default FCI
  const apdu::CommandApdu& c = request.command;
  if (!apdu::is_proprietary_cla(c.cla)) return fail(CardError::kClaNotSupported);
  if (c.p1 != 0 || c.p2 != 0) return fail(CardError::kIncorrectP1P2);
  switch (c.ins) {
    case kInsPutNote: {
      if (c.data.size() > kMaxNote || c.has_le) return fail(CardError::kWrongLength);
      auto cur = current();
      if (!cur) return fail(cur.error());
      const u8 spare = static_cast<u8>(1 - cur->slot);
      claim_spare(spare);  // an HTTP upload still filling the spare slot is superseded
      // One transaction: the new bytes and the switch to them land together or not at all.
      SCWS_TRY(ctx_->begin_transaction());
      SCWS_TRY(write_spare(spare, 0, c.data));
      SCWS_TRY(make_current(spare, static_cast<u16>(c.data.size())));
      SCWS_TRY(ctx_->commit_transaction());
      return ApduOutcome{};
    }
    case kInsGetNote: {
      if (!c.data.empty()) return fail(CardError::kWrongLength);
      auto n = read_note(request.response);
      if (!n) return fail(n.error());
      return ApduOutcome{*n, Completion::kNormal};  // the dispatcher cuts it to Le
    }
    default:
      return fail(CardError::kInsNotSupported);
  }
}

// ---- HTTP ---------------------------------------------------------------------------------------

Result<std::size_t, http::BodyError> NoteApplet::note_content(void* state, u32 offset, MutableBytes out) noexcept {
  const auto& s = *static_cast<const ReadState*>(state);
  if (offset >= s.length) return std::size_t{0};
  // The slot was rewritten since the response began: cutting the response (the server closes the
  // connection) is honest; finishing it with other bytes would not be.
  if (s.self->epoch_[s.slot] != s.epoch) return fail(http::BodyError::kReadFailed);
  const std::size_t n = out.size() < s.length - offset ? out.size() : s.length - offset;
  if (!s.self->ctx_->objects().read(kNoteObject, slot_offset(s.slot) + offset, out.first(n)))
    return fail(http::BodyError::kReadFailed);
  return n;
}

void NoteApplet::do_get(http::HttpRequest& request, http::HttpResponse& response) noexcept {
  auto cur = current();
  if (!cur) return response.send_error(http::HttpStatus::kInternalServerError);
  *request.state_as<ReadState>() = ReadState{this, epoch_[cur->slot], cur->length, cur->slot};
  response.set_content_type("text/plain; charset=utf-8");
  response.add_header("Cache-Control", "no-store");
  response.send(note_content, cur->length);
}

void NoteApplet::do_put(http::HttpRequest& request, http::HttpResponse& response) noexcept {
  const auto announced = request.content_length();
  if (announced && *announced > kMaxNote) return response.send_error(http::HttpStatus::kContentTooLarge);
  auto cur = current();
  if (!cur) return response.send_error(http::HttpStatus::kInternalServerError);
  auto* s = request.state_as<UploadState>();
  s->slot = static_cast<u8>(1 - cur->slot);
  s->writer = claim_spare(s->slot);
  s->received = 0;
  upload_step(request, response);
}

void NoteApplet::on_body(http::HttpRequest& request, http::HttpResponse& response) noexcept {
  upload_step(request, response);
}

// Writes the body bytes available now into the spare slot, each call in its own transaction (the
// body arrives over several APDUs, and a transaction never outlives one); the note switches to the
// spare slot in one further transaction once the body is complete.
void NoteApplet::upload_step(http::HttpRequest& request, http::HttpResponse& response) noexcept {
  auto* s = request.state_as<UploadState>();
  if (s->writer != writer_) return response.send_error(http::HttpStatus::kServiceUnavailable);
  u8 piece[64];
  for (std::size_t n = request.read_body(piece); n != 0; n = request.read_body(piece)) {
    if (s->received + n > kMaxNote) return response.send_error(http::HttpStatus::kContentTooLarge);
    if (!write_spare(s->slot, s->received, Bytes(piece, n)))
      return response.send_error(http::HttpStatus::kInternalServerError);
    s->received = static_cast<u16>(s->received + n);
  }
  if (!request.body_complete()) return;
  if (!make_current(s->slot, s->received)) return response.send_error(http::HttpStatus::kInternalServerError);
  ++writer_;  // done: nobody writes into what is now the current slot
  response.set_status(http::HttpStatus::kNoContent);
  response.send_empty();
}

}  // namespace scws::card::examples
