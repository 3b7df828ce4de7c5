"""QC report: tables and figures from the pipeline's aggregate outputs (DESIGN §2.6, §6).

Everything here reads aggregates only: the bundles (manifest group sizes and per-record
counts per group), the per-(cohort, chunk) stats of normalise and count, the merge
summaries and the published panel. No sample sheet and no genotype is read, so no
figure or table can name a sample.

Privacy: a group with fewer than `privacy.min_group_size` samples is never plotted and
none of its counts or frequencies is shown: per-cohort figures leave a withheld cohort
out, population figures a withheld population (pooled, unnamed, in the sample counts).
`withheld_groups_text` names them, with their sizes, for the summary table: the one
place the report names them.

Large inputs are streamed: the panel in record batches, the bundles one contig at a
time, and the concordance plots are drawn from a fixed grid of counts, so memory does
not grow with the number of sites.

Modules: `data` (tables from the bundles, the stats JSON and the bundle counts: pure
functions such as `samples_by_cohort`, `site_fates`, `cohort_tables`), `panel` (tables
from the published panel and the merge summaries: `panel_spectra`, `panel_chromosomes`),
`figures` (`plot_*`: matplotlib's object API, a Figure renders PNG with Agg, no pyplot
state), `page` (the summary's HTML) and `steps` (the `write_*` steps and `run`, what the
`qc-figures` CLI calls). Only `figures` and `steps` import matplotlib.
"""
