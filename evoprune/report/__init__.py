"""Analysis and reporting of study results: statistics, tables, figures, the report and the reproduction page."""
