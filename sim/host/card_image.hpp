// The card image of `scws run` and `scws card`, one flow for both: a missing image is built from a
// profile (sim/host/provision.hpp; or formatted empty when there is no profile), then opened
// (sim/host/file_nvm_device.hpp) and the card powered on once around it (sim/host/emulated_uicc.hpp),
// so that a damaged image is refused at start rather than at the first command.
//
// One wording for what goes wrong, CardImageError::what():
//   "cannot create the card image IMG: WHY"   the profile cannot be read, or the image not built
//   "refusing image IMG: WHY"                 missing where it must exist, unreadable, damaged, or
//                                             the card does not power up with it
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

#include "card/os/tracer.hpp"
#include "sim/host/emulated_uicc.hpp"
#include "sim/host/file_nvm_device.hpp"
#include "sim/host/profile.hpp"
#include "sim/host/provision.hpp"

namespace scws::sim {

class CardImageError : public std::runtime_error {
 public:
  enum class Kind { kProfile, kBuild, kImage };  // the profile, building the image, the image itself
  CardImageError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  [[nodiscard]] Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

// What a missing image is built from.
struct ImageSource {
  std::optional<std::filesystem::path> profile_dir;  // nullopt: an empty, formatted image
  const Profile* profile = nullptr;                  // profile_dir already loaded (else loaded when needed)
  std::filesystem::path credentials;                 // the clients' part of [tls] (empty: next to the image)
};

enum class ImageOrigin { kExisting, kBuilt, kRebuilt, kCreatedEmpty };

struct PreparedImage {
  ImageOrigin origin = ImageOrigin::kExisting;
  ProvisionReport provision;  // kBuilt, kRebuilt
  std::string summary;        // one line for the user: what happened to the image
};

// Builds `image` from `source` when it does not exist, or when `rebuild` (image_size bytes). Throws
// CardImageError (kProfile, kBuild).
PreparedImage prepare_card_image(const std::filesystem::path& image, const ImageSource& source, std::uint32_t image_size,
                                 bool rebuild = false);

// Why the card did not power up (PowerError), in the flow's words; with the NVM's error and, given
// the image's device, the file's.
std::string power_failure_text(const card::Card& card, card::PowerError error, const FileNvmDevice* nvm = nullptr);

// The existing `image` opened, the card (ram_bytes of RAM, a multiple of 16) built around it and
// powered on once; it stays powered. Throws CardImageError (kImage). sink: the card's trace lines
// from the power-on on (nullptr: none).
class OpenedCard {
 public:
  OpenedCard(const std::filesystem::path& image, std::size_t ram_bytes, card::TraceSink* sink = nullptr);
  OpenedCard(const OpenedCard&) = delete;
  OpenedCard& operator=(const OpenedCard&) = delete;

  [[nodiscard]] FileNvmDevice& nvm() noexcept { return nvm_; }
  [[nodiscard]] EmulatedUicc& uicc() noexcept { return uicc_; }
  [[nodiscard]] card::Card& card() noexcept { return uicc_.card(); }

 private:
  FileNvmDevice nvm_;
  EmulatedUicc uicc_;
};

}  // namespace scws::sim
