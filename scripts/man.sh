#!/usr/bin/env bash
# Renders the man pages (man/synprobe.1 and one per subcommand) from the clap definitions,
# with clap_mangen, into man/. tests/man_page.rs fails while the checked-in pages differ
# from what this writes, so run it after changing a flag or its help, and commit man/.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f man/*.1
SYNPROBE_UPDATE_MAN=1 nice -n 10 cargo test --quiet --test man_page >/dev/null
ls man/*.1
