// Shared pieces of the `arrowring` command line: exit codes, size parsing, JSON output.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/status.h>

#include "arrowring/ring/error.h"
#include "arrowring/ring/internal/stats_json.h"
#include "arrowring/ring/ring.h"

namespace arrowring::cli {

/// Exit codes: a contract, documented in docs/cli.md.
enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,         // anything else went wrong (I/O, verification, lost messages)
  kExitUsage = 2,           // bad arguments: unknown option, invalid name, size or policy
  kExitNotFound = 3,        // no ring of that name
  kExitPermission = 4,      // the ring belongs to another user
  kExitInUse = 5,           // rm of a ring that live processes use (without --force)
  kExitExists = 6,          // create of a name that is taken
  kExitIncompatible = 7,    // not an arrowring segment, or another layout version
  kExitBadInput = 8,        // an input file that is not Arrow, Parquet or CSV
  kExitRingFull = 9,        // publishing found no room within its timeout
  kExitNoDiskSpace = 10,    // demo: the output's filesystem cannot hold what the run may write
  kExitTooLarge = 11,       // a message larger than the ring can ever hold (pub: use --batch-rows)
  kExitSchemaChanged = 12,  // cat --format arrow: a message of another schema than the first
};

/// Prints "arrowring <command>: <message>" to stderr and returns the exit code for `code`.
int Fail(std::string_view command, Errc code, std::string_view message);
int Fail(std::string_view command, const Error& error);
int Fail(std::string_view command, const arrow::Status& status);

/// "256MiB", "1GiB", "4096", "10MB" (KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB of 1000).
Result<uint64_t> ParseSize(std::string_view text);
/// Says on stderr when a ring's capacity is not the one asked for (rounded up to whole 4 KiB
/// pages): "arrowring create: note: capacity 1 B rounded up to 4.0 KiB (...)".
void NoteRounding(std::string_view command, uint64_t asked, uint64_t capacity);
/// 1536 -> "1.5 KiB".
std::string HumanBytes(double bytes);

/// Attaches to `name`, turning "no such ring" into an error that says how to find rings.
Result<Ring> AttachRing(std::string_view name);

}  // namespace arrowring::cli
