#include "http/request_writer.hpp"

#include <cstring>

#include "http/ascii.hpp"

namespace scws::http {

namespace {

class Writer {
 public:
  explicit Writer(MutableBytes out) noexcept : out_(out) {}
  void put(std::string_view s) noexcept {
    if (failed_ || s.size() > out_.size() - at_) {
      failed_ = true;
      return;
    }
    std::memcpy(out_.data() + at_, s.data(), s.size());
    at_ += s.size();
  }
  void put_number(u32 n) noexcept {
    char digits[10];
    std::size_t k = 0;
    do {
      digits[k++] = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n != 0);
    char text[10];
    for (std::size_t i = 0; i < k; ++i) text[i] = digits[k - 1 - i];
    put(std::string_view(text, k));
  }
  void fail() noexcept { failed_ = true; }
  [[nodiscard]] std::size_t size() const noexcept { return failed_ ? 0 : at_; }

 private:
  MutableBytes out_;
  std::size_t at_ = 0;
  bool failed_ = false;
};

bool safe_value(std::string_view v) noexcept {
  for (char c : v)
    if (!is_field_value_byte(static_cast<u8>(c))) return false;
  return true;
}

bool safe_token(std::string_view v) noexcept {
  if (v.empty()) return false;
  for (char c : v)
    if (!is_tchar(static_cast<u8>(c))) return false;
  return true;
}

bool safe_target(std::string_view t) noexcept {
  if (t.empty() || t.front() != '/') return false;
  for (char c : t)
    if (!is_vchar(static_cast<u8>(c)) || c == '#') return false;
  return true;
}

}  // namespace

std::size_t write_request_head(const RequestHeadSpec& spec, MutableBytes out) noexcept {
  Writer w(out);
  if (!safe_target(spec.target) || spec.host.empty() || !safe_value(spec.host) || !safe_value(spec.content_type)) return 0;
  w.put(method_name(spec.method));
  w.put(" ");
  w.put(spec.target);
  w.put(" HTTP/1.1\r\nHost: ");
  w.put(spec.host);
  w.put("\r\n");
  for (const FieldLine& f : spec.fields) {
    if (!safe_token(f.name) || !safe_value(f.value)) return 0;
    w.put(f.name);
    w.put(": ");
    w.put(f.value);
    w.put("\r\n");
  }
  if (!spec.content_type.empty()) {
    w.put("Content-Type: ");
    w.put(spec.content_type);
    w.put("\r\n");
  }
  w.put("Content-Length: ");
  w.put_number(spec.content_length);
  w.put("\r\n\r\n");
  return w.size();
}

}  // namespace scws::http
