#include "sim/host/card_image.hpp"

#include <system_error>
#include <utility>

namespace scws::sim {

namespace fs = std::filesystem;

namespace {

CardImageError cannot_create(CardImageError::Kind kind, const fs::path& image, const std::string& why) {
  return CardImageError(kind, "cannot create the card image " + image.string() + ": " + why);
}

CardImageError refusing(const fs::path& image, const std::string& why) {
  return CardImageError(CardImageError::Kind::kImage, "refusing image " + image.string() + ": " + why);
}

// A formatted image with no content: what a card without a profile starts from.
void create_empty(const fs::path& image, std::uint32_t size) {
  FileNvmDevice fresh = FileNvmDevice::create(image, size, true);
  if (!card::Card::format_image(fresh, card::CardIdentity{}).ok()) throw std::runtime_error("formatting it failed");
}

std::string built_from(const fs::path& dir, const ProvisionReport& r) {
  return "the profile " + dir.string() + " (" + std::to_string(r.resources) + " resources, " + std::to_string(r.content_bytes) +
         " bytes of content)";
}

PreparedImage build(const fs::path& image, const ImageSource& source, std::uint32_t size, bool existed) {
  PreparedImage prepared;
  if (!source.profile_dir) {
    try {
      create_empty(image, size);
    } catch (const std::runtime_error& e) {
      throw cannot_create(CardImageError::Kind::kBuild, image, e.what());
    }
    prepared.origin = ImageOrigin::kCreatedEmpty;
    prepared.summary = image.string() + (existed ? " replaced by" : " did not exist: created") + " an empty card image of " +
                       std::to_string(size) + " bytes (no profile to build it from)";
    return prepared;
  }
  std::optional<Profile> loaded;
  if (source.profile == nullptr) {
    try {
      loaded = load_profile(*source.profile_dir);
    } catch (const std::runtime_error& e) {
      throw cannot_create(CardImageError::Kind::kProfile, image, e.what());
    }
  }
  const Profile& profile = source.profile != nullptr ? *source.profile : *loaded;
  try {
    prepared.provision = provision_file(profile, image, size, existed, source.credentials);
  } catch (const std::runtime_error& e) {
    throw cannot_create(CardImageError::Kind::kBuild, image, e.what());
  }
  prepared.origin = existed ? ImageOrigin::kRebuilt : ImageOrigin::kBuilt;
  prepared.summary = existed ? "card image " + image.string() + " rebuilt from " + built_from(*source.profile_dir, prepared.provision)
                             : image.string() + " did not exist: created a new card image of " + std::to_string(size) +
                                   " bytes from " + built_from(*source.profile_dir, prepared.provision);
  return prepared;
}

FileNvmDevice open_image(const fs::path& image) {
  std::error_code ec;
  if (!fs::exists(image, ec)) throw refusing(image, "it does not exist");
  try {
    return FileNvmDevice::open(image);
  } catch (const std::runtime_error& e) {
    throw refusing(image, e.what());
  }
}

}  // namespace

PreparedImage prepare_card_image(const fs::path& image, const ImageSource& source, std::uint32_t image_size, bool rebuild) {
  std::error_code ec;
  const bool exists = fs::exists(image, ec);
  if (exists && !rebuild) {
    PreparedImage prepared;
    prepared.summary = "using the existing card image " + image.string();
    return prepared;
  }
  return build(image, source, image_size, exists);
}

std::string power_failure_text(const card::Card& card, card::PowerError error, const FileNvmDevice* nvm) {
  switch (error) {
    case card::PowerError::kNvm: {
      std::string why = card::describe(card.nvm_error());
      if (nvm != nullptr && !nvm->last_error().empty()) why += " (" + nvm->last_error() + ")";
      return why;
    }
    case card::PowerError::kRamTooSmall: return "the card RAM is too small for the APDU buffer and the applets";
    case card::PowerError::kNotPowered: return "the card is not powered";
  }
  return "unknown power error";
}

OpenedCard::OpenedCard(const fs::path& image, std::size_t ram_bytes, card::TraceSink* sink)
    : nvm_(open_image(image)), uicc_(nvm_, ram_bytes) {
  if (sink != nullptr) uicc_.set_trace_sink(sink);
  if (auto s = uicc_.card().power_on(); !s) throw refusing(image, power_failure_text(uicc_.card(), s.error(), &nvm_));
}

}  // namespace scws::sim
