// Result<T, E>: a value or an error, never both. The card side reports every failure this way
// (no exceptions on the card path, docs/architecture.md, "Card-side rules"). E is a small enum per layer.
#pragma once

#include <new>
#include <type_traits>
#include <utility>

namespace scws {

template <class E>
struct Failure {
  E error;
};

// fail(E::X) reads better than Failure<E>{E::X} at return sites.
template <class E>
constexpr Failure<E> fail(E e) noexcept {
  return Failure<E>{e};
}

template <class T, class E>
class [[nodiscard]] Result {
  static_assert(std::is_nothrow_move_constructible_v<T>, "card values must move without throwing");

 public:
  constexpr Result(T value) noexcept : ok_(true) { new (&storage_.value) T(std::move(value)); }
  constexpr Result(Failure<E> f) noexcept : ok_(false) { storage_.error = f.error; }
  Result(const Result& other) noexcept(std::is_nothrow_copy_constructible_v<T>) : ok_(other.ok_) {
    if (ok_) {
      new (&storage_.value) T(other.storage_.value);
    } else {
      storage_.error = other.storage_.error;
    }
  }
  Result(Result&& other) noexcept : ok_(other.ok_) {
    if (ok_) {
      new (&storage_.value) T(std::move(other.storage_.value));
    } else {
      storage_.error = other.storage_.error;
    }
  }
  Result& operator=(const Result&) = delete;
  Result& operator=(Result&&) = delete;
  ~Result() {
    if (ok_) storage_.value.~T();
  }

  [[nodiscard]] constexpr bool ok() const noexcept { return ok_; }
  constexpr explicit operator bool() const noexcept { return ok_; }
  // Precondition: ok(). Checked by the caller, as with std::optional::operator*.
  constexpr T& value() noexcept { return storage_.value; }
  constexpr const T& value() const noexcept { return storage_.value; }
  constexpr T& operator*() noexcept { return storage_.value; }
  constexpr const T& operator*() const noexcept { return storage_.value; }
  constexpr T* operator->() noexcept { return &storage_.value; }
  constexpr const T* operator->() const noexcept { return &storage_.value; }
  // Precondition: !ok().
  [[nodiscard]] constexpr E error() const noexcept { return storage_.error; }

 private:
  union Storage {
    Storage() noexcept {}
    ~Storage() {}
    T value;
    E error;
  } storage_;
  bool ok_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  constexpr Result() noexcept : ok_(true), error_{} {}
  constexpr Result(Failure<E> f) noexcept : ok_(false), error_(f.error) {}
  [[nodiscard]] constexpr bool ok() const noexcept { return ok_; }
  constexpr explicit operator bool() const noexcept { return ok_; }
  [[nodiscard]] constexpr E error() const noexcept { return error_; }

 private:
  bool ok_;
  E error_;
};

template <class E>
using Status = Result<void, E>;

}  // namespace scws

// Propagates the error of an expression returning Result<void, E> / Result<T, E> with the same E.
#define SCWS_TRY(expr)                                        \
  do {                                                        \
    auto scws_try_result_ = (expr);                           \
    if (!scws_try_result_.ok()) return ::scws::fail(scws_try_result_.error()); \
  } while (0)
