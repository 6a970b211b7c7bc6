"""What the compliance pages draw and hand out: SVG bar charts, PDF documents, CSV files,
and the export services that put every export on the record."""
