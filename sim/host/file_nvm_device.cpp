#include "sim/host/file_nvm_device.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

namespace scws::sim {
namespace {

std::string in_quotes(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

std::string errno_text(int err) { return std::strerror(err); }

// Closes a descriptor on every path out of a function.
class Fd {
 public:
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const noexcept { return fd_; }
  // Closes now and reports close()'s error (it can carry a delayed write error).
  int close() noexcept {
    const int fd = std::exchange(fd_, -1);
    return fd >= 0 ? ::close(fd) : 0;
  }

 private:
  int fd_;
};

}  // namespace

FileNvmDevice::FileNvmDevice(std::filesystem::path path, std::vector<u8> image, bool dirty)
    : path_(std::move(path)), image_(std::move(image)), dirty_(dirty) {}

FileNvmDevice FileNvmDevice::open(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw std::runtime_error("cannot open NVM image " + in_quotes(path) + ": " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    throw std::runtime_error("cannot stat NVM image " + in_quotes(path) + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error("NVM image " + in_quotes(path) + " is not a regular file");
  if (st.st_size == 0) throw std::runtime_error("NVM image " + in_quotes(path) + " is empty");
  if (static_cast<unsigned long long>(st.st_size) > std::numeric_limits<u32>::max())
    throw std::runtime_error("NVM image " + in_quotes(path) + " is larger than 4 GiB - 1 bytes");
  std::vector<u8> image(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < image.size()) {
    const ssize_t n = ::read(fd.get(), image.data() + done, image.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error("cannot read NVM image " + in_quotes(path) + ": " + errno_text(errno));
    if (n == 0)
      throw std::runtime_error("NVM image " + in_quotes(path) + " shrank while being read (" + std::to_string(done) +
                               " of " + std::to_string(image.size()) + " bytes)");
    done += static_cast<std::size_t>(n);
  }
  return FileNvmDevice(path, std::move(image), false);
}

FileNvmDevice FileNvmDevice::create(const std::filesystem::path& path, u32 size, bool overwrite) {
  if (size == 0) throw std::runtime_error("cannot create NVM image " + in_quotes(path) + " of 0 bytes");
  std::error_code ec;
  if (!overwrite && std::filesystem::exists(path, ec))
    throw std::runtime_error("NVM image " + in_quotes(path) + " exists already");
  FileNvmDevice dev(path, std::vector<u8>(size, 0), true);
  if (!dev.sync()) throw std::runtime_error("cannot create NVM image: " + dev.last_error());
  return dev;
}

FileNvmDevice FileNvmDevice::create_from(const std::filesystem::path& path, Bytes contents, bool overwrite) {
  if (contents.empty()) throw std::runtime_error("cannot create NVM image " + in_quotes(path) + " of 0 bytes");
  std::error_code ec;
  if (!overwrite && std::filesystem::exists(path, ec))
    throw std::runtime_error("NVM image " + in_quotes(path) + " exists already");
  FileNvmDevice dev(path, std::vector<u8>(contents.begin(), contents.end()), true);
  if (!dev.sync()) throw std::runtime_error("cannot create NVM image: " + dev.last_error());
  return dev;
}

Status<card::NvmError> FileNvmDevice::read(u32 offset, MutableBytes out) noexcept {
  if (u64{offset} + out.size() > image_.size()) return fail(card::NvmError::kOutOfRange);
  if (!out.empty()) std::memcpy(out.data(), image_.data() + offset, out.size());
  return {};
}

Status<card::NvmError> FileNvmDevice::write(u32 offset, Bytes data) noexcept {
  if (u64{offset} + data.size() > image_.size()) return fail(card::NvmError::kOutOfRange);
  if (!data.empty()) std::memcpy(image_.data() + offset, data.data(), data.size());
  dirty_ = true;
  return {};
}

Status<card::NvmError> FileNvmDevice::sync() noexcept {
  if (!dirty_) return {};
  try {
    last_error_ = replace_file();
  } catch (const std::exception& e) {  // out of memory while building a message or a path
    last_error_ = "sync " + path_.string() + ": " + e.what();
  }
  if (!last_error_.empty()) return fail(card::NvmError::kIo);
  dirty_ = false;
  return {};
}

// temp file in the same directory -> write -> fsync -> rename over the image -> fsync directory.
std::string FileNvmDevice::replace_file() const {
  const std::filesystem::path dir = path_.has_parent_path() ? path_.parent_path() : std::filesystem::path(".");
  const std::string what = "sync NVM image " + in_quotes(path_) + ": ";
  std::string tmpl = (dir / ("." + path_.filename().string() + ".tmp-XXXXXX")).string();
  Fd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (fd.get() < 0) return what + "cannot create a temporary file in " + in_quotes(dir) + ": " + errno_text(errno);
  auto failed = [&](const std::string& step, int err) {
    ::unlink(tmpl.c_str());
    return what + step + ": " + errno_text(err);
  };
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && ::fchmod(fd.get(), st.st_mode & 07777) != 0)
    return failed("cannot copy the image's mode to " + in_quotes(tmpl), errno);
  std::size_t done = 0;
  while (done < image_.size()) {
    const ssize_t n = ::write(fd.get(), image_.data() + done, image_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failed("cannot write " + in_quotes(tmpl), errno);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return failed("cannot fsync " + in_quotes(tmpl), errno);
  if (fd.close() != 0) return failed("cannot close " + in_quotes(tmpl), errno);
  if (::rename(tmpl.c_str(), path_.c_str()) != 0) return failed("cannot rename " + in_quotes(tmpl) + " over the image", errno);
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0 || ::fsync(dfd.get()) != 0)
    return what + "replaced, but cannot fsync the directory " + in_quotes(dir) + ": " + errno_text(errno);
  return {};
}

}  // namespace scws::sim
