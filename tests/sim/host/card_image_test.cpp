// The card image flow of `scws run` and `scws card` (sim/host/card_image.hpp): built when missing,
// kept when present, opened and powered on, and refused in one wording.
#include "sim/host/card_image.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "card/os/card.hpp"
#include "card/os/nvm.hpp"
#include "scws_config.hpp"
#include "sim/testing/scratch_dir.hpp"

using namespace scws;
using namespace scws::sim;
namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t kSize = 1024 * 1024;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

ImageSource demo() {
  ImageSource s;
  s.profile_dir = fs::path(SCWS_SOURCE_ROOT) / "profiles" / "demo";
  return s;
}

// The message of the CardImageError fn throws, and its kind.
template <class F>
std::pair<std::string, CardImageError::Kind> refusal(F fn) {
  try {
    fn();
  } catch (const CardImageError& e) {
    return {e.what(), e.kind()};
  }
  FAIL("no CardImageError");
  return {};
}

}  // namespace

TEST_CASE("a missing image is built from the profile, then kept, and rebuilt when asked") {
  const ScratchDir dir("scws-card-image-test");
  const fs::path image = dir.path() / "card.img";
  const PreparedImage built = prepare_card_image(image, demo(), kSize);
  CHECK(built.origin == ImageOrigin::kBuilt);
  CHECK(contains(built.summary, image.string() + " did not exist: created a new card image of " + std::to_string(kSize) +
                                    " bytes from the profile "));
  CHECK(built.provision.resources > 0);
  CHECK(fs::file_size(image) == kSize);
  CHECK(fs::exists(image.string() + ".credentials/ca.pem"));  // the demo profile has [tls]

  const PreparedImage kept = prepare_card_image(image, demo(), kSize);
  CHECK(kept.origin == ImageOrigin::kExisting);
  CHECK(kept.summary == "using the existing card image " + image.string());

  const PreparedImage rebuilt = prepare_card_image(image, demo(), kSize, true);
  CHECK(rebuilt.origin == ImageOrigin::kRebuilt);
  CHECK(rebuilt.provision.credentials_reused);

  OpenedCard card(image, SCWS_RAM_SIZE);
  CHECK(card.card().powered());
  CHECK(card.uicc().tls_port().state() == card::TlsPort::State::kServing);
}

TEST_CASE("without a profile a missing image is created empty and still powers up") {
  const ScratchDir dir("scws-card-image-test");
  const fs::path image = dir.path() / "empty.img";
  const PreparedImage made = prepare_card_image(image, ImageSource{}, kSize);
  CHECK(made.origin == ImageOrigin::kCreatedEmpty);
  CHECK(contains(made.summary, "did not exist: created an empty card image of"));
  OpenedCard card(image, SCWS_RAM_SIZE);
  CHECK(card.card().powered());
}

TEST_CASE("a profile that cannot be read or built is refused as 'cannot create the card image'") {
  const ScratchDir dir("scws-card-image-test");
  const fs::path image = dir.path() / "card.img";
  ImageSource broken;
  broken.profile_dir = dir.path() / "no-such-profile";
  auto [message, kind] = refusal([&] { (void)prepare_card_image(image, broken, kSize); });
  CHECK(kind == CardImageError::Kind::kProfile);
  CHECK(contains(message, "cannot create the card image " + image.string() + ": "));
  CHECK_FALSE(fs::exists(image));

  // An image too small for the demo's content is a build failure, in the same words.
  auto [small, small_kind] = refusal([&] { (void)prepare_card_image(image, demo(), 64 * 1024); });
  CHECK(small_kind == CardImageError::Kind::kBuild);
  CHECK(contains(small, "cannot create the card image " + image.string() + ": "));
}

TEST_CASE("a missing, empty, damaged or too large image is refused as 'refusing image IMG'") {
  const ScratchDir dir("scws-card-image-test");
  const fs::path image = dir.path() / "card.img";
  const std::string prefix = "refusing image " + image.string() + ": ";

  auto [missing, kind] = refusal([&] { OpenedCard card(image, SCWS_RAM_SIZE); });
  CHECK(kind == CardImageError::Kind::kImage);
  CHECK(missing == prefix + "it does not exist");

  std::ofstream(image).close();
  auto [empty, empty_kind] = refusal([&] { OpenedCard card(image, SCWS_RAM_SIZE); });
  CHECK(empty_kind == CardImageError::Kind::kImage);
  CHECK(contains(empty, prefix));
  CHECK(contains(empty, "is empty"));

  fs::remove(image);
  (void)prepare_card_image(image, demo(), kSize);
  {
    std::fstream f(image, std::ios::in | std::ios::out | std::ios::binary);
    f.put('X');  // the image's magic is gone
  }
  auto [damaged, damaged_kind] = refusal([&] { OpenedCard card(image, SCWS_RAM_SIZE); });
  CHECK(damaged_kind == CardImageError::Kind::kImage);
  CHECK(damaged == prefix + card::describe(card::NvmError::kBadMagic));
}

TEST_CASE("a card whose RAM cannot hold the image's TLS region is refused in the same words") {
  const ScratchDir dir("scws-card-image-test");
  const fs::path image = dir.path() / "card.img";
  (void)prepare_card_image(image, demo(), kSize);
  auto [message, kind] = refusal([&] { OpenedCard card(image, 32 * 1024); });
  CHECK(kind == CardImageError::Kind::kImage);
  CHECK(message == "refusing image " + image.string() + ": the card RAM is too small for the APDU buffer and the applets");
}
