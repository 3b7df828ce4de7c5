rule publish:
    input:
        chunks=expand(f"{OUTDIR}/merged/{{chunk}}.parquet", chunk=CHUNKS),
        manifests=bundle_manifests,
    output:
        vcf=f"{OUTDIR}/panel/{config['panel_name']}.sites.vcf.gz",
        tbi=f"{OUTDIR}/panel/{config['panel_name']}.sites.vcf.gz.tbi",
        parquet=f"{OUTDIR}/panel/{config['panel_name']}.sites.parquet",
        release=f"{OUTDIR}/panel/{config['panel_name']}.release.json",
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
        min_group_size=config["privacy"]["min_group_size"],
        previous=previous_release_option(),
    shell:
        "{params.europanel} publish --bundles {params.bundles} --chunks {input.chunks}"
        " --config-digest {params.config_digest}"
        " --vcf {output.vcf} --parquet {output.parquet} --release {output.release}"
        " --min-group-size {params.min_group_size} {params.previous} > {log} 2>&1"
