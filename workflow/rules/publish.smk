rule publish:
    input:
        chunks=expand(f"{OUTDIR}/merged/{{chunk}}.parquet", chunk=CHUNKS),
        manifests=bundle_manifests,
    output:
        vcf=f"{OUTDIR}/panel/{config['panel_name']}.sites.vcf.gz",
        tbi=f"{OUTDIR}/panel/{config['panel_name']}.sites.vcf.gz.tbi",
        parquet=f"{OUTDIR}/panel/{config['panel_name']}.sites.parquet",
    log:
        f"{OUTDIR}/logs/publish.log",
    benchmark:
        f"{OUTDIR}/benchmarks/publish.tsv"
    conda:
        "../envs/publish.yaml"
    threads: 1
    resources:
        mem_mb=publish_mem_mb,
        runtime=publish_runtime,
    params:
        europanel=EUROPANEL,
        bundles=" ".join(BUNDLES),
        config_digest=CONFIG_DIGEST,
    shell:
        "{params.europanel} publish --bundles {params.bundles} --chunks {input.chunks}"
        " --config-digest {params.config_digest}"
        " --vcf {output.vcf} --parquet {output.parquet} > {log} 2>&1"
