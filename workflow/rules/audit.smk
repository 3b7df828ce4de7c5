# Disclosure audit (DESIGN §6, docs/PRIVACY.md): the last rule of every run. It reads only
# the published files (panel VCF + Parquet, bundles, the report's summary, the release
# records) and fails the run when any group under k can be derived from them.


rule audit:
    input:
        manifests=bundle_manifests,
        verified=VERIFIED_BUNDLES,
        counts=report_bundle_counts,
        vcf=f"{OUTDIR}/panel/{config['panel_name']}.sites.vcf.gz",
        parquet=f"{OUTDIR}/panel/{config['panel_name']}.sites.parquet",
        release=f"{OUTDIR}/panel/{config['panel_name']}.release.json",
        report=f"{OUTDIR}/report/summary.html",
    output:
        f"{OUTDIR}/panel/{config['panel_name']}.audit.json",
    log:
        f"{OUTDIR}/logs/audit.log",
    benchmark:
        f"{OUTDIR}/benchmarks/audit.tsv"
    conda:
        "../envs/merge.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        europanel=EUROPANEL,
        bundles=" ".join(BUNDLES),
        settings=stage_settings("audit"),
    shell:
        "{params.europanel} audit --bundles {params.bundles}"
        " --settings {params.settings:q}"
        " --vcf {input.vcf} --parquet {input.parquet} --report {input.report}"
        " --release {input.release} --threads {threads} --output {output} > {log} 2>&1"
