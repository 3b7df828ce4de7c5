# Counts files are hashed once per run (verify_bundles), not in every merge job.
rule verify_bundles:
    input:
        manifests=bundle_manifests,
        counts=all_bundle_counts,
    output:
        VERIFIED_BUNDLES,
    log:
        f"{OUTDIR}/logs/verify_bundles.log",
    benchmark:
        f"{OUTDIR}/benchmarks/verify_bundles.tsv"
    conda:
        "../envs/merge.yaml"
    threads: 1
    resources:
        runtime=verify_bundles_runtime,
    params:
        europanel=EUROPANEL,
        bundles=" ".join(BUNDLES),
    shell:
        "{params.europanel} verify-bundles --bundles {params.bundles}"
        " --output {output} > {log} 2>&1"


rule merge:
    input:
        manifests=bundle_manifests,
        counts=bundle_contig_counts,
        verified=VERIFIED_BUNDLES,
    output:
        records=temp(f"{OUTDIR}/merged/{{chunk}}.parquet"),
        summary=f"{OUTDIR}/merged/{{chunk}}.summary.json",
    log:
        f"{OUTDIR}/logs/merge/{{chunk}}.log",
    benchmark:
        f"{OUTDIR}/benchmarks/merge/{{chunk}}.tsv"
    # Merges before the publish parts waiting for cores: a part cannot start before its
    # merge, so a merge left for last leaves its part to run alone at the end.
    priority: 1
    conda:
        "../envs/merge.yaml"
    threads: 1
    resources:
        mem_mb=merge_mem_mb,
        runtime=merge_runtime,
    params:
        europanel=EUROPANEL,
        bundles=" ".join(BUNDLES),
        settings=stage_settings("merge"),
    shell:
        "{params.europanel} merge --bundles {params.bundles} --chunk {wildcards.chunk}"
        " --verified {input.verified} --settings {params.settings:q}"
        " --output {output.records} --summary {output.summary} > {log} 2>&1"
