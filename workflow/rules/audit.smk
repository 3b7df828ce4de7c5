# Disclosure audit (DESIGN §6, docs/PRIVACY.md): the last rule of every run. It reads only
# the published files (panel VCF + Parquet, bundles, the report's summary, the release
# records) and fails the run when any group under k can be derived from them. The panel's
# records are read chunk by chunk (audit_chunk, in parallel, as soon as the panel is
# published); audit joins their patterns and checks every record was read.


rule audit_chunk:
    input:
        manifests=bundle_manifests,
        verified=VERIFIED_BUNDLES,
        vcf=f"{OUTDIR}/panel/{config['panel_name']}.sites.vcf.gz",
        tbi=f"{OUTDIR}/panel/{config['panel_name']}.sites.vcf.gz.tbi",
        parquet=f"{OUTDIR}/panel/{config['panel_name']}.sites.parquet",
    output:
        temp(f"{OUTDIR}/audit/{{chunk}}.json"),
    log:
        f"{OUTDIR}/logs/audit_chunk/{{chunk}}.log",
    benchmark:
        f"{OUTDIR}/benchmarks/audit_chunk/{{chunk}}.tsv"
    conda:
        "../envs/merge.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        europanel=EUROPANEL,
        bundles=" ".join(BUNDLES),
        region=lambda wildcards: CHUNK_REGIONS[wildcards.chunk],
    shell:
        "{params.europanel} audit-chunk --bundles {params.bundles}"
        " --vcf {input.vcf} --parquet {input.parquet} --region {params.region}"
        " --output {output} > {log} 2>&1"


rule audit:
    input:
        manifests=bundle_manifests,
        verified=VERIFIED_BUNDLES,
        counts=report_bundle_counts,
        chunks=expand(f"{OUTDIR}/audit/{{chunk}}.json", chunk=CHUNKS),
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
    threads: 1
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
        " --release {input.release} --chunk-patterns {input.chunks}"
        " --output {output} > {log} 2>&1"
