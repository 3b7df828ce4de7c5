rule count:
    input:
        bcf=f"{OUTDIR}/normalised/{{cohort}}/{{chunk}}.bcf",
        csi=f"{OUTDIR}/normalised/{{cohort}}/{{chunk}}.bcf.csi",
        samples=f"{OUTDIR}/sheets/{{cohort}}.samples.tsv",
    output:
        counts=temp(f"{OUTDIR}/counts/{{cohort}}/{{chunk}}.parquet"),
        stats=f"{OUTDIR}/counts/{{cohort}}/{{chunk}}.stats.json",
    log:
        f"{OUTDIR}/logs/count/{{cohort}}/{{chunk}}.log",
    benchmark:
        f"{OUTDIR}/benchmarks/count/{{cohort}}/{{chunk}}.tsv"
    conda:
        "../envs/count.yaml"
    threads: 1
    resources:
        mem_mb=count_mem_mb,
        runtime=count_runtime,
    params:
        europanel=EUROPANEL,
        block_size=config["block_size"],
        ploidy=ploidy_options(),
        qc=qc_options(),
        histograms=("--histograms" if config["site_annotations"]["histograms"] else ""),
    shell:
        "{params.europanel} count --cohort {wildcards.cohort} --samples {input.samples}"
        " --bcf {input.bcf} --block-size {params.block_size} {params.ploidy} {params.qc}"
        " {params.histograms}"
        " --output {output.counts} --stats {output.stats} > {log} 2>&1"
