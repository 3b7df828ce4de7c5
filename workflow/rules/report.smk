# QC report (DESIGN §2.6, §6): figures and tables for `snakemake --report`, made from
# aggregates only (bundles, normalise/count stats, merge summaries, the panel). Groups
# below privacy.min_group_size are never plotted; the summary table names them.


rule report_samples:
    input:
        manifests=bundle_manifests,
        verified=VERIFIED_BUNDLES,
    output:
        figure=report(
            f"{OUTDIR}/report/samples.png",
            caption="../report/samples.rst",
            category="Samples",
        ),
    log:
        f"{OUTDIR}/logs/report/samples.log",
    benchmark:
        f"{OUTDIR}/benchmarks/report/samples.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        europanel=EUROPANEL,
        bundles=" ".join(BUNDLES),
        settings=stage_settings("report"),
    shell:
        "{params.europanel} qc-figures samples --bundles {params.bundles}"
        " --settings {params.settings:q}"
        " --samples-figure {output.figure} > {log} 2>&1"


if not BUNDLE_MODE:

    rule report_sites:
        input:
            manifests=bundle_manifests,
            verified=VERIFIED_BUNDLES,
            normalised=expand(
                f"{OUTDIR}/normalised/{{cohort}}/{{chunk}}.stats.json",
                cohort=COHORTS,
                chunk=CHUNKS,
            ),
            counted=expand(
                f"{OUTDIR}/counts/{{cohort}}/{{chunk}}.stats.json",
                cohort=COHORTS,
                chunk=CHUNKS,
            ),
        output:
            figure=report(
                f"{OUTDIR}/report/sites.png",
                caption="../report/sites.rst",
                category="Sites",
            ),
            table=f"{OUTDIR}/report/sites.tsv",
        log:
            f"{OUTDIR}/logs/report/sites.log",
        benchmark:
            f"{OUTDIR}/benchmarks/report/sites.tsv"
        conda:
            "../envs/report.yaml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        params:
            europanel=EUROPANEL,
            bundles=" ".join(BUNDLES),
            settings=stage_settings("report"),
            # Paths are rebuilt from these: a genome-wide list is too long for a command line.
            chunks=" ".join(CHUNKS),
            root=lambda wildcards, input: stats_root(input.counted[0]),
        shell:
            "{params.europanel} qc-figures sites --bundles {params.bundles}"
            " --settings {params.settings:q}"
            " --stats-root {params.root} --chunks {params.chunks}"
            " --sites-figure {output.figure} --sites-table {output.table} > {log} 2>&1"


rule report_cohorts:
    input:
        manifests=bundle_manifests,
        verified=VERIFIED_BUNDLES,
        counts=report_bundle_counts,
    output:
        concordance=report(
            f"{OUTDIR}/report/concordance.png",
            caption="../report/concordance.rst",
            category="Frequencies",
        ),
        concordance_table=report(
            f"{OUTDIR}/report/concordance.tsv",
            caption="../report/concordance_table.rst",
            category="Frequencies",
        ),
        cohort_qc=report(
            f"{OUTDIR}/report/cohort_qc.png",
            caption="../report/cohort_qc.rst",
            category="Cohort QC",
        ),
        cohort_table=report(
            f"{OUTDIR}/report/cohort_qc.tsv",
            caption="../report/cohort_qc_table.rst",
            category="Cohort QC",
        ),
    log:
        f"{OUTDIR}/logs/report/cohorts.log",
    benchmark:
        f"{OUTDIR}/benchmarks/report/cohorts.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=report_cohorts_mem_mb,
        runtime=report_cohorts_runtime,
    params:
        europanel=EUROPANEL,
        bundles=" ".join(BUNDLES),
        settings=stage_settings("report"),
        contigs=" ".join(CONTIGS),
    shell:
        "{params.europanel} qc-figures cohorts --bundles {params.bundles}"
        " --settings {params.settings:q} --contigs {params.contigs}"
        " --concordance-figure {output.concordance}"
        " --concordance-table {output.concordance_table}"
        " --cohort-figure {output.cohort_qc} --cohort-table {output.cohort_table}"
        " > {log} 2>&1"


rule report_panel:
    input:
        manifests=bundle_manifests,
        verified=VERIFIED_BUNDLES,
        panel=f"{OUTDIR}/panel/{config['panel_name']}.sites.parquet",
    output:
        sfs=report(
            f"{OUTDIR}/report/sfs.png",
            caption="../report/sfs.rst",
            category="Frequencies",
        ),
        af=report(
            f"{OUTDIR}/report/af_distribution.png",
            caption="../report/af_distribution.rst",
            category="Panel",
        ),
        country_het=report(
            f"{OUTDIR}/report/country_het.png",
            caption="../report/country_het.rst",
            category="Frequencies",
        ),
    log:
        f"{OUTDIR}/logs/report/panel.log",
    benchmark:
        f"{OUTDIR}/benchmarks/report/panel.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        europanel=EUROPANEL,
        bundles=" ".join(BUNDLES),
        settings=stage_settings("report"),
    shell:
        "{params.europanel} qc-figures panel --bundles {params.bundles}"
        " --settings {params.settings:q} --panel {input.panel}"
        " --sfs-figure {output.sfs} --af-figure {output.af}"
        " --country-het-figure {output.country_het} > {log} 2>&1"


rule report_summary:
    input:
        manifests=bundle_manifests,
        verified=VERIFIED_BUNDLES,
        panel=f"{OUTDIR}/panel/{config['panel_name']}.sites.parquet",
        merged=expand(f"{OUTDIR}/merged/{{chunk}}.summary.json", chunk=CHUNKS),
        sites=report_sites_table,
        cohorts=f"{OUTDIR}/report/cohort_qc.tsv",
        concordance=f"{OUTDIR}/report/concordance.tsv",
    output:
        report(
            f"{OUTDIR}/report/summary.html",
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        f"{OUTDIR}/logs/report/summary.log",
    benchmark:
        f"{OUTDIR}/benchmarks/report/summary.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        europanel=EUROPANEL,
        bundles=" ".join(BUNDLES),
        settings=stage_settings("report_summary"),
        chunks=" ".join(CHUNKS),
        root=lambda wildcards, input: stats_root(input.merged[0]),
        sites=lambda wildcards, input: (
            f"--sites-table {input.sites}" if input.sites else ""
        ),
    shell:
        "{params.europanel} qc-figures summary --bundles {params.bundles}"
        " --settings {params.settings:q}"
        " --panel {input.panel} --stats-root {params.root} --chunks {params.chunks}"
        " {params.sites} --cohort-table {input.cohorts}"
        " --concordance-table {input.concordance} --summary {output} > {log} 2>&1"
