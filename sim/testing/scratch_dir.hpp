// A working folder for a host program's run (benchmarks, their children's files): either one the
// user named, kept, or a fresh private one under the temporary directory, removed with this object
// unless asked to keep it.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace scws::sim {

class ScratchDir {
 public:
  // given empty: mkdtemp("<tmp>/<prefix>-XXXXXX"), removed at destruction unless keep.
  explicit ScratchDir(const std::string& prefix, std::filesystem::path given = {}, bool keep = false) {
    if (given.empty()) {
      std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
      if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error(prefix + ": cannot create a temporary directory");
      path_ = pattern;
      remove_ = !keep;
    } else {
      path_ = std::move(given);
      std::filesystem::create_directories(path_);
    }
  }
  ~ScratchDir() {
    if (!remove_) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
  bool remove_ = false;
};

}  // namespace scws::sim
