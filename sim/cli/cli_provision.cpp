// `scws provision --profile DIR --out IMG [--size BYTES] [--force] [--credentials DIR]`: compiles a
// profile folder (card.toml + content, sim/host/profile.hpp) into a card image (sim/host/provision.hpp). With
// [tls] in card.toml it also makes (or reuses) the test PKI: the card's part into the image, the
// clients' part into the credentials folder (default IMG.credentials).
#include <iostream>
#include <memory>
#include <string>

#include "scws_config.hpp"
#include "sim/cli/cli.hpp"
#include "sim/host/profile.hpp"
#include "sim/host/provision.hpp"

namespace scws::sim::cli {
namespace {

struct ProvisionArgs {
  std::string profile;
  std::string out;
  std::string credentials;
  std::uint32_t size = SCWS_NVM_SIZE;
  bool force = false;
};

int run_provision(const ProvisionArgs& args) {
  Profile profile;
  try {
    profile = load_profile(args.profile);
  } catch (const ProfileError& e) {
    std::cerr << "scws provision: " << e.what() << "\n";
    return kExitUsage;
  }
  try {
    const ProvisionReport r = provision_file(profile, args.out, args.size, args.force, args.credentials);
    std::cout << "scws provision: " << args.out << ": " << r.resources << " resources (" << r.content_bytes
              << " bytes), " << r.users << " users, " << r.protection_sets << " protection sets, ICCID "
              << profile.iccid_digits << ", HTTP port " << profile.http_port << "; image " << r.image_size
              << " bytes, " << r.nvm_free << " bytes of NVM free" << std::endl;
    // Never the key or a password: only what was done with them.
    std::cout << "scws provision: passwords stored as PBKDF2-HMAC-SHA-256 hashes (" << profile.security.pbkdf2_iterations
              << " iterations, 16-byte salt each); ADM key "
              << (profile.security.adm_key ? "set (" + std::to_string(profile.security.adm_tries) + " tries)" : std::string("none"))
              << std::endl;
    if (profile.tls) {
      const ProfileTls& t = *profile.tls;
      std::cout << "scws provision: TLS port " << t.port << " (" << to_string(t.mode) << ", " << unsigned{t.channels}
                << " channels, " << t.ram << " bytes of TLS RAM); credentials " << r.credentials.string()
                << (r.credentials_reused ? " (existing CA kept)" : " (new test PKI)") << ": " << r.tls_clients
                << " client certificates, " << r.tls_psks << " PSK identities; see README.txt there" << std::endl;
    }
    if (r.admin) {
      std::cout << "scws provision: admin link to " << r.admin->server << ":" << r.admin->port << " ("
                << (profile.admin->enabled ? "enabled" : "disabled") << "), PSK identity " << r.admin->psk_identity
                << "; enrolment file for the server: " << r.enrolment.string() << " (mode 0600)" << std::endl;
    }
  } catch (const ProvisionError& e) {
    std::cerr << "scws provision: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void add_provision_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ProvisionArgs>();
  CLI::App* cmd = app.add_subcommand("provision", "Compile a profile folder (card.toml + web content) into a card image");
  cmd->add_option("--profile,-p", args->profile, "Profile folder holding card.toml")->required();
  cmd->add_option("--out,-o", args->out, "Card image file to write")->required();
  cmd->add_option("--size", args->size, "Bytes of the image (the card's NVM)")
      ->capture_default_str()
      ->check(CLI::Range(65536, 64 * 1024 * 1024));
  cmd->add_flag("--force,-f", args->force, "Replace the output image when it exists");
  cmd->add_option("--credentials", args->credentials,
                  "With [tls]: folder for the clients' credentials (default: [tls] credentials, else IMG.credentials); "
                  "an existing folder's CA is reused");
  cmd->footer(
      "Exit code 2 when the profile is invalid (the message names the file, line and problem),\n"
      "1 when the card refuses its content (too many resources, NVM full) or the image cannot be written.");
  cmd->callback([args, &exit_code] { exit_code = run_provision(*args); });
}

}  // namespace scws::sim::cli
