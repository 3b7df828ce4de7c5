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
    # The chunk's piece of the panel is written by the same job: the merged table is
    # never written and read again (issue 12).
    output:
        vcf=temp(f"{OUTDIR}/panel_parts/{{chunk}}.vcf.gz"),
        tbi=temp(f"{OUTDIR}/panel_parts/{{chunk}}.vcf.gz.tbi"),
        parquet=temp(f"{OUTDIR}/panel_parts/{{chunk}}.parquet"),
        summary=f"{OUTDIR}/merged/{{chunk}}.summary.json",
    log:
        f"{OUTDIR}/logs/merge/{{chunk}}.log",
    benchmark:
        f"{OUTDIR}/benchmarks/merge/{{chunk}}.tsv"
    # Merges before the report jobs waiting for cores: publish cannot start before the
    # last merge.
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
        vrs=f"--fasta {VRS_FASTA}" if VRS_FASTA else "",
    shell:
        "{params.europanel} merge --bundles {params.bundles} --chunk {wildcards.chunk}"
        " --verified {input.verified} --settings {params.settings:q} {params.vrs}"
        " --vcf-part {output.vcf} --parquet-part {output.parquet}"
        " --summary {output.summary} > {log} 2>&1"
