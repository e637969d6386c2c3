// informerd's command-line flags and how they combine with the config file.
#ifndef SERVER_FLAGS_H_
#define SERVER_FLAGS_H_

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "server/config.h"

namespace informer {
namespace server {

// The names of the flags that appear on `argv` (`--name`, `--name=v`, `-name`, `--noname`),
// so that only those override the config file.
absl::flat_hash_set<std::string> FlagsGiven(int argc, char** argv);

// Sets the usage text and makes --help list informerd's flags (--helpfull lists all).
void SetUpUsage();

// The config: defaults, then the --config file (when given), then every flag in `given`.
// Errors from the file or a malformed flag value (InvalidArgument saying which flag).
absl::StatusOr<ServerConfig> ConfigFromFlags(const absl::flat_hash_set<std::string>& given);

}  // namespace server
}  // namespace informer

#endif  // SERVER_FLAGS_H_
