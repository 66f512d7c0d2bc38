#include "card/cat/bip_channel.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/card/cat/toolkit_fixture.hpp"

using namespace scws;
using namespace scws::card;
using namespace scws::card::test;

namespace {

struct alignas(16) Ram {
  u8 bytes[4096];
};

struct ChannelRig {
  ChannelRig() : arena(MutableBytes(ram.bytes, sizeof ram.bytes)) {
    ch.reset(0);
    ch.buffer_size = 1400;
  }
  Ram ram{};
  Arena arena;
  BipChannel ch;
  ScriptedEndpoint ep;
};

Bytes bytes_of(const std::string& s) { return Bytes(reinterpret_cast<const u8*>(s.data()), s.size()); }

}  // namespace

TEST_CASE("bip channel names every state") {
  const BipState all[] = {BipState::kClosed,    BipState::kOpenRequested, BipState::kListen, BipState::kEstablished,
                          BipState::kReceiving, BipState::kSending,       BipState::kClosing};
  for (BipState s : all) CHECK(std::string(to_string(s)) != "?");
}

TEST_CASE("bip channel traces old and new state on every transition") {
  TraceLog log;
  Tracer tracer;
  tracer.set_sink(&log);
  BipChannel ch;
  ch.reset(2);
  ch.channel_id = 3;
  ch.set_state(BipState::kListen, "listening", tracer);
  CHECK(ch.state() == BipState::kListen);
  REQUIRE(log.lines.size() == 1);
  CHECK(log.lines[0] == "bip slot 2 channel 3: Closed -> Listen (listening)");
}

TEST_CASE("bip channel reassembles a TLS record split across RECEIVE DATA chunks") {
  // A 600-byte record arrives in chunks of every size 1..237; the endpoint takes at most `limit` bytes
  // a call; whatever it leaves is offered again before the next chunk. Nothing is lost or reordered.
  std::string record;
  for (int i = 0; i < 600; ++i) record.push_back(static_cast<char>(i * 7));
  for (std::size_t chunk = 1; chunk <= BipChannel::kRxAccumulatorSize; chunk += (chunk < 20 ? 1 : 31)) {
    for (std::size_t limit : {std::size_t{1}, std::size_t{5}, std::size_t{1000}}) {
      CAPTURE(chunk);
      CAPTURE(limit);
      ChannelRig r;
      r.ep.echo = true;
      r.ep.consume_limit = limit;
      REQUIRE(r.ch.connect(r.arena, r.ep));
      for (std::size_t at = 0; at < record.size(); at += chunk) {
        while (r.ch.pending_rx() != 0) REQUIRE(r.ch.offer_pending(r.arena));
        CHECK_FALSE(r.ch.holds_accumulator());  // RAM only while bytes wait
        REQUIRE(r.ch.deliver(r.arena, bytes_of(record.substr(at, chunk))));
      }
      while (r.ch.pending_rx() != 0) REQUIRE(r.ch.offer_pending(r.arena));
      CHECK(r.ep.input(0) == record);
      CHECK_FALSE(r.ch.holds_accumulator());
      r.ch.disconnect(r.arena);
      CHECK(r.arena.in_use() == 0);
    }
  }
}

TEST_CASE("bip channel takes no Rx RAM when the endpoint consumes every chunk, and drops when RAM lacks for a rest") {
  ChannelRig r;
  r.ep.echo = true;
  REQUIRE(r.ch.connect(r.arena, r.ep));
  const std::size_t connected = r.arena.in_use();
  REQUIRE(r.ch.deliver(r.arena, bytes_of("GET / HTTP/1.1\r\n\r\n")));
  CHECK(r.arena.in_use() == connected);
  CHECK_FALSE(r.ch.holds_accumulator());
  // An endpoint that takes one byte a call, with no arena room left for the rest: deliver says so.
  r.ep.consume_limit = 1;
  void* hog = r.arena.allocate(r.arena.capacity() - r.arena.in_use() - 64);
  REQUIRE(hog != nullptr);
  CHECK_FALSE(r.ch.deliver(r.arena, bytes_of("abc")));
  r.arena.deallocate(hog);
  r.ch.disconnect(r.arena);
  CHECK(r.arena.in_use() == 0);
}

TEST_CASE("bip channel fills SEND DATA pieces to 240 bytes and looks one byte ahead") {
  for (std::size_t n : {1u, 239u, 240u, 241u, 480u, 1000u}) {
    for (std::size_t send_limit : {std::size_t{1}, std::size_t{13}, std::size_t{240}, static_cast<std::size_t>(-1)}) {
      CAPTURE(n);
      CAPTURE(send_limit);
      ChannelRig r;
      std::string response(n, 'q');
      for (std::size_t i = 0; i < n; ++i) response[i] = static_cast<char>('a' + i % 26);
      r.ep.response = bytes_of(response);
      r.ep.send_limit = send_limit;
      r.ep.close_after_response = false;
      REQUIRE(r.ch.connect(r.arena, r.ep));
      REQUIRE(r.ch.deliver(r.arena, bytes_of("GET / HTTP/1.1\r\n\r\n")));
      std::string out;
      std::vector<u8> stage(BipChannel::kMaxPiece);
      std::size_t pieces = 0;
      bool more = true;
      while (more) {
        const std::size_t k = r.ch.pull(stage, more);
        REQUIRE(k != 0);
        ++pieces;
        if (more) CHECK(k == BipChannel::kMaxPiece);  // only the last piece of a burst is short
        out.append(reinterpret_cast<const char*>(stage.data()), k);
        r.ch.piece_sent(k, !more);
      }
      CHECK(out == response);
      CHECK(pieces == (n + 239) / 240);
      bool again = true;
      CHECK(r.ch.pull(stage, again) == 0);
      CHECK_FALSE(again);
      r.ch.disconnect(r.arena);
    }
  }
}

TEST_CASE("bip channel never overfills the terminal's Tx buffer") {
  ChannelRig r;
  r.ch.buffer_size = 500;
  CHECK(r.ch.piece_capacity() == 240);
  CHECK_FALSE(r.ch.must_flush_after(240));  // 260 left: room for another whole piece
  r.ch.piece_sent(240, false);
  CHECK(r.ch.piece_capacity() == 240);
  CHECK(r.ch.must_flush_after(240));  // 20 left after it: flush
  r.ch.piece_sent(240, true);
  CHECK(r.ch.piece_capacity() == 240);
  // The terminal's report wins when it knows of less room.
  r.ch.tx_free_reported(100);
  CHECK(r.ch.piece_capacity() == 100);
  r.ch.piece_sent(100, true);
  r.ch.tx_free_reported(0xFF);
  CHECK(r.ch.piece_capacity() == 240);
  // A buffer smaller than a piece: pieces of the buffer's size, each sent immediately.
  r.ch.buffer_size = 100;
  CHECK(r.ch.piece_capacity() == 100);
  CHECK(r.ch.must_flush_after(100));
}

TEST_CASE("bip channel gives its accumulator back and never calls a refusing endpoint's close") {
  ChannelRig r;
  r.ep.refuse_open = true;
  CHECK_FALSE(r.ch.connect(r.arena, r.ep));
  CHECK(r.arena.in_use() == 0);
  r.ch.disconnect(r.arena);
  CHECK(r.ep.closes[0] == 0);
  r.ep.refuse_open = false;
  REQUIRE(r.ch.connect(r.arena, r.ep));
  r.ep.consume_limit = 1;  // leaves bytes behind: the accumulator holds them
  REQUIRE(r.ch.deliver(r.arena, bytes_of("GET")));
  CHECK(r.ch.holds_accumulator());
  CHECK(r.arena.in_use() != 0);
  r.ch.disconnect(r.arena);
  r.ch.disconnect(r.arena);  // twice: harmless
  CHECK(r.ep.closes[0] == 1);
  CHECK(r.arena.in_use() == 0);
}

TEST_CASE("bip channel connects without taking RAM of its own") {
  alignas(16) u8 tiny[64];
  Arena arena(MutableBytes(tiny, sizeof tiny));
  BipChannel ch;
  ch.reset(0);
  ScriptedEndpoint ep;
  CHECK(ch.connect(arena, ep));
  CHECK(ep.opens[0] == 1);
  CHECK(arena.in_use() == 0);
  ch.disconnect(arena);
}

TEST_CASE("timer values are hh:mm:ss capped at 99:59:59") {
  const auto v = to_timer_value(3 * 3600 + 25 * 60 + 7);
  CHECK(v.hours == 3);
  CHECK(v.minutes == 25);
  CHECK(v.seconds == 7);
  const auto cap = to_timer_value(1000000);
  CHECK(cap.hours == 99);
  CHECK(cap.minutes == 59);
  CHECK(cap.seconds == 59);
  TimerTable t;
  CHECK_FALSE(t.start(0, 1, nullptr));
  CHECK_FALSE(t.start(9, 1, nullptr));
  CHECK(t.start(2, 1, nullptr));
  CHECK(t.next_wanted() == 2);
  CHECK(t.stop(2));
  CHECK(t.at(2).state == TimerState::kIdle);  // never reached the terminal: just forgotten
  CHECK(t.next_wanted() == 0);
}
