# Turns help2man's page of `jenky --help-all` (CLI11's layout) into one with a
# COMMANDS section: each subcommand a subsection, its "Options:" and
# "Positionals:" labels as paragraph headings. Used by scripts/package.sh.
#   awk -f man-sections.awk jenky.1 > jenky.1.new
{ line[NR] = $0 }
END {
  for (i = 1; i <= NR; i++) {
    l = line[i]
    # CLI11's first help line repeats the NAME section
    if (l ~ /^jenky: /) continue
    if (l == "Subcommands:" && line[i - 1] == ".PP") {
      print ".SH COMMANDS"
      if (line[i + 1] ~ /^[a-z][a-z0-9-]*$/ && line[i + 2] == ".IP") { print ".SS " line[i + 1]; i += 2 }
      continue
    }
    # ".PP" NAME ".IP": a subcommand (the ".PP" was held back below)
    if (l == ".PP" && line[i + 1] ~ /^[a-z][a-z0-9-]*$/ && line[i + 2] == ".IP") {
      print ".SS " line[i + 1]; i += 2; continue
    }
    if (l == ".PP" && line[i + 1] == "Subcommands:") continue
    if (l == ".IP" && (line[i + 1] == "Options:" || line[i + 1] == "Positionals:")) continue
    if (l == "Options:" || l == "Positionals:" || l == "Subcommands:") {
      print ".PP"; print "\\fI" l "\\fR"; continue
    }
    print l
  }
}
