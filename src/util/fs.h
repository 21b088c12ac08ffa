// Small file helpers with errors that name the file.
#pragma once

#include <string>
#include <string_view>

#include "util/status.h"

namespace jenky {

Result<std::string> ReadFile(const std::string& path);

// Writes PATH so that readers see either the old or the new content, never a
// part: write PATH.tmp, fsync it, rename over PATH, fsync the directory.
// DURABLE false skips both fsyncs (still atomic for readers; not across a
// power cut) for files that matter only while the machine is up.
Status WriteFileAtomic(const std::string& path, std::string_view data, int mode = 0644,
                       bool durable = true);

// Creates or truncates PATH and writes DATA, without fsync: for files written
// once before anyone reads them, made durable later (or not needed after a crash).
Status WriteFile(const std::string& path, std::string_view data, int mode = 0644);
// Replaces the contents of the existing file PATH with DATA, creating
// nothing. Not by truncating first: ext4 flushes a file that was truncated to
// zero bytes and rewritten when it is closed (auto_da_alloc), which costs a
// trigger a tenth of a millisecond per file.
Status Overwrite(const std::string& path, std::string_view data);

// mkdir -p with MODE for the directories it creates.
Status MakeDirs(const std::string& path, int mode = 0755);

// rm -rf; a missing path is not an error.
Status RemoveTree(const std::string& path);

bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);  // (following symlinks)

// Writes all of DATA to FD, retrying short writes and EINTR.
Status WriteAll(int fd, std::string_view data, const std::string& what);

}  // namespace jenky
