// `scws provision`: compiles a Profile (sim/profile.hpp) into a card image. The image is built on a
// RAM NVM device through the card's own put functions (card/web_content.hpp, card/web_users.hpp),
// each step a card transaction, then written to the output file atomically (temporary file, fsync,
// rename): an interrupted provisioning leaves no half-made image.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/profile.hpp"

namespace scws::card {
class NvmDevice;
}

namespace scws::sim {

class ProvisionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ProvisionReport {
  std::size_t resources = 0;
  std::uintmax_t content_bytes = 0;
  std::size_t users = 0;
  std::size_t protection_sets = 0;
  std::uint32_t image_size = 0;
  std::uint32_t nvm_free = 0;  // data bytes the card has left for later content
};

// Formats `device` and writes the profile into it. Throws ProvisionError naming the resource, user
// or set the card refused and why (too many, too long, NVM full ...).
ProvisionReport provision_device(const Profile& profile, card::NvmDevice& device);

// The demo profile bundled with scws (profiles/demo in the source tree): what `scws run` and a new
// `scws card` image serve when no profile is given. $SCWS_PROFILE_DIR overrides the location.
std::filesystem::path bundled_demo_profile();

// provision_device on a RAM image of image_size bytes, then written atomically to `out` (refused
// when `out` exists unless overwrite).
ProvisionReport provision_file(const Profile& profile, const std::filesystem::path& out, std::uint32_t image_size,
                               bool overwrite);

}  // namespace scws::sim
