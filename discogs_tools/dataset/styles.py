"""Style labels at master level (Discogs20 recipe).

A *group* is a master release with every release of it in the dump; a release without a
master is a group of its own (key ``-release_id``). A group's styles are the union of its
releases' styles. The vocabulary keeps the top-N styles ranked by the number of distinct
linked releases (releases linked to a candidate track) that carry them; ties by name.
Groups with more than ``max_styles`` styles (all styles, before the top-N cut: such
annotations are too broad to be labels) or with no style in the vocabulary are dropped.
A track's labels are the kept styles of its kept groups; a track with no kept group is dropped.
"""

from __future__ import annotations

from .duck import sql_str


def build_track_styles(con, *, releases: str, top_n: int, max_styles: int) -> dict[str, int]:
    """Create ``style_vocab`` (style, index, releases), ``group_styles`` and ``track_styles``
    from ``candidate_release`` (track_id, release_id, master_id) in ``con``; return counts."""
    con.execute("""
        CREATE OR REPLACE TABLE release_group AS
        SELECT DISTINCT release_id, coalesce(master_id, -release_id) AS grp FROM candidate_release
    """)
    con.execute(f"""
        CREATE OR REPLACE TABLE group_styles AS
        WITH dump AS (
            SELECT coalesce(master_id, -release_id) AS grp, styles FROM read_parquet({sql_str(releases)})
        )
        SELECT grp, list_sort(list_distinct(flatten(list(coalesce(styles, []::VARCHAR[]))))) AS styles
        FROM dump SEMI JOIN (SELECT DISTINCT grp FROM release_group) g USING (grp)
        GROUP BY grp
    """)
    con.execute(f"""
        CREATE OR REPLACE TABLE style_vocab AS
        WITH counts AS (
            SELECT style, count(DISTINCT rg.release_id) AS releases
            FROM release_group rg JOIN (SELECT grp, unnest(styles) AS style FROM group_styles) USING (grp)
            GROUP BY style
        )
        SELECT style, releases,
               (row_number() OVER (ORDER BY releases DESC, style) - 1)::INTEGER AS "index"
        FROM counts
        QUALIFY "index" < {int(top_n)}
    """)
    con.execute("""
        CREATE OR REPLACE TABLE group_kept AS
        WITH kept AS (
            SELECT grp, list_sort(list(style)) AS kept
            FROM (SELECT grp, unnest(styles) AS style FROM group_styles) SEMI JOIN style_vocab USING (style)
            GROUP BY grp
        )
        SELECT g.grp, len(g.styles) AS n_styles, coalesce(k.kept, []::VARCHAR[]) AS kept
        FROM group_styles g LEFT JOIN kept k USING (grp)
    """)
    con.execute(f"""
        CREATE OR REPLACE TABLE group_kept AS
        SELECT grp, n_styles, kept, (n_styles <= {int(max_styles)} AND len(kept) > 0) AS keep FROM group_kept
    """)
    con.execute("""
        CREATE OR REPLACE TABLE track_styles AS
        SELECT cr.track_id, list_sort(list_distinct(flatten(list(gk.kept)))) AS styles
        FROM candidate_release cr JOIN release_group USING (release_id) JOIN group_kept gk USING (grp)
        WHERE gk.keep
        GROUP BY cr.track_id
    """)
    groups, kept, too_many, none_kept = con.execute("""
        SELECT count(*), count(*) FILTER (WHERE keep),
               count(*) FILTER (WHERE n_styles > $max),
               count(*) FILTER (WHERE n_styles <= $max AND len(kept) = 0)
        FROM group_kept
    """, {"max": int(max_styles)}).fetchone()
    vocab = con.execute("SELECT count(*) FROM style_vocab").fetchone()[0]
    return {"style_groups": int(groups), "style_groups_kept": int(kept),
            "style_groups_too_many_styles": int(too_many), "style_groups_no_kept_style": int(none_kept),
            "styles_kept": int(vocab)}
