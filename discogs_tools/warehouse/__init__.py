"""The DuckDB warehouse: views over every Parquet table of a workspace, flat SQL views of the
nested Discogs tables (``sql/views/``), and querying (``discogs-tools sql``).

* :mod:`.discover` finds the tables and names their views;
* :mod:`.views` loads the shipped flat views in dependency order;
* :mod:`.build` (re)creates ``warehouse.duckdb`` atomically (``discogs-tools warehouse``);
* :mod:`.query` runs a query and renders or writes the result (``discogs-tools sql``).
"""
