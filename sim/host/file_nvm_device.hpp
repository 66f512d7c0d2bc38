// The card's NVM image in a host file (the file backend writes atomically: docs/architecture.md,
// "Card-side rules").
//
// The whole image lives in memory; write() changes memory only. sync() replaces the file
// atomically: a temporary file in the same directory gets the whole image, is fsynced, renamed over
// the image and the directory is fsynced. So the file always holds the image of some sync(): Nvm
// syncs after format, after every commit point and after a mount-time rollback, which makes the file
// a committed state at any crash. The temporary file keeps the mode of the image it replaces
// (0600 for a new image: it holds keys).
//
// Not for concurrent use by two processes (the later sync wins).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "card/os/nvm_device.hpp"

namespace scws::sim {

class FileNvmDevice final : public card::NvmDevice {
 public:
  // Opens an existing image and reads it whole. Throws std::runtime_error naming the path and the
  // problem (missing, unreadable, not a regular file, empty, larger than 4 GiB - 1).
  static FileNvmDevice open(const std::filesystem::path& path);
  // A new zero-filled image of `size` bytes, written to disk at once (so an unwritable directory
  // shows up here). Throws std::runtime_error when the file exists (unless overwrite), when size is 0,
  // or when writing fails.
  static FileNvmDevice create(const std::filesystem::path& path, u32 size, bool overwrite = false);
  // A new image holding `contents` (built elsewhere, e.g. on a RAM device by provisioning), written
  // atomically like sync(): the file appears whole or not at all. Throws as create.
  static FileNvmDevice create_from(const std::filesystem::path& path, Bytes contents, bool overwrite = false);

  FileNvmDevice(FileNvmDevice&&) noexcept = default;
  FileNvmDevice& operator=(FileNvmDevice&&) noexcept = default;
  FileNvmDevice(const FileNvmDevice&) = delete;
  FileNvmDevice& operator=(const FileNvmDevice&) = delete;
  ~FileNvmDevice() override = default;

  [[nodiscard]] u32 size() const noexcept override { return static_cast<u32>(image_.size()); }
  Status<card::NvmError> read(u32 offset, MutableBytes out) noexcept override;
  Status<card::NvmError> write(u32 offset, Bytes data) noexcept override;
  // No-op when nothing was written since the last sync. kIo on failure, with last_error() saying
  // which step failed and why (errno text); the image file is then unchanged and no temporary file
  // is left behind.
  Status<card::NvmError> sync() noexcept override;

  [[nodiscard]] const std::string& last_error() const noexcept { return last_error_; }
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  [[nodiscard]] bool dirty() const noexcept { return dirty_; }
  [[nodiscard]] Bytes contents() const noexcept { return image_; }

 private:
  FileNvmDevice(std::filesystem::path path, std::vector<u8> image, bool dirty);
  // Throws nothing; returns the failure text (empty on success).
  std::string replace_file() const;

  std::filesystem::path path_;
  std::vector<u8> image_;
  std::string last_error_;
  bool dirty_ = false;
};

}  // namespace scws::sim
