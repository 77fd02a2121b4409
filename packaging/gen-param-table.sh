#!/usr/bin/env bash
# Prints the README parameter table (markdown) generated from the OCF meta-data.
#   packaging/gen-param-table.sh            table only
#   packaging/gen-param-table.sh --markers  wrapped in <!-- params:begin/end --> markers,
#                                           ready to replace that block in README.md
# Needs xsltproc. tests/docs_sync.rs checks that README.md's block agrees with the XML.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
xml="${PGSQLMS_METADATA:-$here/../ocf-metadata/pgsqlms.xml}"
markers=0
case "${1:-}" in
  --markers) markers=1 ;;
  "") ;;
  *) echo "usage: $0 [--markers]" >&2; exit 2 ;;
esac
[ "$markers" = 1 ] && echo '<!-- params:begin -->'
xsltproc --novalid --nonet "$here/param-table.xsl" "$xml"
[ "$markers" = 1 ] && echo '<!-- params:end -->'
exit 0
