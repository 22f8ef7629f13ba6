"""kubectl's output for the objects lb reads: `get` tables, `describe` pages and the
`-o` formats, laid out as kubectl lays them out (k/k pkg/printers/internalversion,
kubectl pkg/describe, k8s.io/cli-runtime printers, client-go util/jsonpath).

  tabwriter   Go's text/tabwriter            cells      the text of one cell
  items       the objects listed, one shape  tables     `get`'s columns per resource
  describe    describe pages                 resources  resource names -> all of the above
  formats     -o yaml|json|name|custom-columns   jsonpath  -o jsonpath templates
  selectors   -l label selectors
"""
from lb.kubectl.cells import human_duration
from lb.kubectl.describe import describe_service
from lb.kubectl.tables import format_endpoints
from lb.kubectl.tabwriter import table, tabwrite

__all__ = ["describe_service", "format_endpoints", "human_duration", "table", "tabwrite"]
