#include "sim/host/file_nvm_device.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "card/os/nvm.hpp"

using namespace scws;
using namespace scws::card;
using scws::sim::FileNvmDevice;
namespace fs = std::filesystem;

namespace {

// A private directory per test, removed afterwards.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "scws-nvm-test-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(path)) names.push_back(e.path().filename().string());
    return names;
  }
};

std::vector<u8> file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<u8>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& p, const std::vector<u8>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::string what_of(auto&& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace

TEST_CASE("file nvm device create writes a zero image of the size asked, mode 0600, with no temporary file left") {
  TempDir dir;
  const fs::path img = dir.path / "card.img";
  auto dev = FileNvmDevice::create(img, 4096);
  CHECK(dev.size() == 4096);
  CHECK_FALSE(dev.dirty());
  CHECK(file_bytes(img) == std::vector<u8>(4096, 0));
  CHECK(dir.entries() == std::vector<std::string>{"card.img"});
  CHECK(mode_of(img) == 0600);
}

TEST_CASE("file nvm device create refuses an existing file unless told to overwrite, and a size of 0") {
  TempDir dir;
  const fs::path img = dir.path / "card.img";
  write_file(img, {1, 2, 3});
  const std::string exists = what_of([&] { FileNvmDevice::create(img, 4096); });
  CHECK(exists.find("exists") != std::string::npos);
  CHECK(exists.find(img.string()) != std::string::npos);
  CHECK(file_bytes(img) == std::vector<u8>{1, 2, 3});
  auto dev = FileNvmDevice::create(img, 16, true);
  CHECK(file_bytes(img) == std::vector<u8>(16, 0));
  CHECK(what_of([&] { FileNvmDevice::create(dir.path / "zero.img", 0); }).find("0 bytes") != std::string::npos);
}

TEST_CASE("file nvm device writes change memory only until sync replaces the file") {
  TempDir dir;
  const fs::path img = dir.path / "card.img";
  FileNvmDevice::create(img, 64);
  auto dev = FileNvmDevice::open(img);
  const u8 data[3] = {7, 8, 9};
  REQUIRE(dev.write(10, data).ok());
  CHECK(dev.dirty());
  CHECK(file_bytes(img) == std::vector<u8>(64, 0));  // not yet on disk
  u8 back[3] = {};
  REQUIRE(dev.read(10, back).ok());
  CHECK(back[2] == 9);

  REQUIRE(dev.sync().ok());
  CHECK_FALSE(dev.dirty());
  auto on_disk = file_bytes(img);
  REQUIRE(on_disk.size() == 64);
  CHECK(on_disk[10] == 7);
  CHECK(on_disk[12] == 9);
  CHECK(dir.entries() == std::vector<std::string>{"card.img"});

  // Atomic replace: a new inode took the name (an open reader keeps the old content).
  std::ifstream old_reader(img, std::ios::binary);
  const u8 more[1] = {0xFF};
  REQUIRE(dev.write(0, more).ok());
  REQUIRE(dev.sync().ok());
  CHECK(old_reader.get() == 0);
  CHECK(file_bytes(img)[0] == 0xFF);
  CHECK(dev.sync().ok());  // nothing new: a no-op
}

TEST_CASE("file nvm device open names the path and the problem") {
  TempDir dir;
  const std::string missing = what_of([&] { FileNvmDevice::open(dir.path / "missing.img"); });
  CHECK(missing.find("missing.img") != std::string::npos);
  CHECK(missing.find("No such file") != std::string::npos);
  CHECK(what_of([&] { FileNvmDevice::open(dir.path); }).find("not a regular file") != std::string::npos);
  write_file(dir.path / "empty.img", {});
  CHECK(what_of([&] { FileNvmDevice::open(dir.path / "empty.img"); }).find("is empty") != std::string::npos);
}

TEST_CASE("file nvm device sync failure returns kIo, says why and leaves no temporary file") {
  TempDir dir;
  SUBCASE("the image's name is taken by a directory") {
    const fs::path img = dir.path / "card.img";
    auto dev = FileNvmDevice::create(img, 32);
    fs::remove(img);
    fs::create_directories(img / "inside");
    const u8 b[1] = {1};
    REQUIRE(dev.write(0, b).ok());
    CHECK(dev.sync().error() == NvmError::kIo);
    CHECK(dev.last_error().find("rename") != std::string::npos);
    CHECK(dev.last_error().find(img.string()) != std::string::npos);
    CHECK(dev.dirty());
    CHECK(dir.entries() == std::vector<std::string>{"card.img"});
    // Once the obstacle is gone the same device syncs.
    fs::remove_all(img);
    CHECK(dev.sync().ok());
    CHECK(dev.last_error().empty());
    CHECK(file_bytes(img)[0] == 1);
  }
  SUBCASE("the directory is gone") {
    const fs::path sub = dir.path / "sub";
    fs::create_directory(sub);
    auto dev = FileNvmDevice::create(sub / "card.img", 32);
    fs::remove_all(sub);
    const u8 b[1] = {1};
    REQUIRE(dev.write(0, b).ok());
    CHECK(dev.sync().error() == NvmError::kIo);
    CHECK(dev.last_error().find("temporary file") != std::string::npos);
    CHECK(dev.last_error().find("No such file") != std::string::npos);
  }
}

TEST_CASE("file nvm device keeps the image's mode across syncs") {
  TempDir dir;
  const fs::path img = dir.path / "card.img";
  FileNvmDevice::create(img, 32);
  REQUIRE(::chmod(img.c_str(), 0640) == 0);
  auto dev = FileNvmDevice::open(img);
  const u8 b[1] = {1};
  REQUIRE(dev.write(0, b).ok());
  REQUIRE(dev.sync().ok());
  CHECK(mode_of(img) == 0640);
}

TEST_CASE("file nvm device refuses access outside the image") {
  TempDir dir;
  auto dev = FileNvmDevice::create(dir.path / "card.img", 32);
  u8 b[4] = {};
  CHECK(dev.read(28, b).ok());
  CHECK(dev.read(29, b).error() == NvmError::kOutOfRange);
  CHECK(dev.write(0xFFFFFFFF, b).error() == NvmError::kOutOfRange);
  CHECK_FALSE(dev.dirty());
}

TEST_CASE("nvm on a file image: commits survive reopening, an open transaction does not") {
  TempDir dir;
  const fs::path img = dir.path / "card.img";
  const std::vector<u8> committed{1, 2, 3, 4};
  const std::vector<u8> pending{9, 9, 9, 9};
  {
    auto dev = FileNvmDevice::create(img, 64 * 1024);
    Nvm nvm(dev);
    REQUIRE(nvm.format(4096).ok());
    CHECK_FALSE(dev.dirty());  // format synced
    REQUIRE(nvm.begin().ok());
    REQUIRE(nvm.write(100, committed).ok());
    REQUIRE(nvm.commit().ok());
    CHECK_FALSE(dev.dirty());  // commit synced
    REQUIRE(nvm.begin().ok());
    REQUIRE(nvm.write(100, pending).ok());
    REQUIRE(nvm.write(5000, pending).ok());
    // the process dies here: nothing after the commit reaches the file
  }
  auto dev = FileNvmDevice::open(img);
  Nvm nvm(dev);
  REQUIRE(nvm.mount().ok());
  std::vector<u8> out(4);
  REQUIRE(nvm.read(100, out).ok());
  CHECK(out == committed);
  REQUIRE(nvm.read(5000, out).ok());
  CHECK(out == std::vector<u8>(4, 0));
}

TEST_CASE("nvm refuses a truncated image file with kSizeMismatch") {
  TempDir dir;
  const fs::path img = dir.path / "card.img";
  {
    auto dev = FileNvmDevice::create(img, 64 * 1024);
    Nvm nvm(dev);
    REQUIRE(nvm.format(4096).ok());
  }
  // Rows: truncated lengths (in the data area, in the journal, inside the header).
  for (const std::uintmax_t length : {std::uintmax_t{60000}, std::uintmax_t{1000}, std::uintmax_t{20}}) {
    CAPTURE(length);
    fs::resize_file(img, length);
    auto dev = FileNvmDevice::open(img);
    Nvm nvm(dev);
    CHECK(nvm.mount().error() == NvmError::kSizeMismatch);
    CHECK(fs::file_size(img) == length);  // refused, never reformatted
  }
}
