# Normalisation (bcftools via pysam) and counting in one job per cohort x chunk: the
# normalised records go to the job's temp folder, not to another job (issue 12).
rule count:
    input:
        vcfs=cohort_vcfs,
        indexes=cohort_vcf_indexes,
        samples=f"{OUTDIR}/sheets/{{cohort}}.samples.tsv",
        fasta=FASTA,
        fai=f"{FASTA}.fai",
    output:
        counts=temp(f"{OUTDIR}/counts/{{cohort}}/{{chunk}}.parquet"),
        stats=f"{OUTDIR}/counts/{{cohort}}/{{chunk}}.stats.json",
        normalise_stats=f"{OUTDIR}/normalised/{{cohort}}/{{chunk}}.stats.json",
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
        settings=stage_settings("count"),
    shell:
        "{params.europanel} count-chunk --cohort {wildcards.cohort} --samples {input.samples}"
        " --settings {params.settings:q} --vcf {input.vcfs} --chunk {wildcards.chunk}"
        " --fasta {input.fasta} --mem-mb {resources.mem_mb}"
        " --output {output.counts} --stats {output.stats}"
        " --normalise-stats {output.normalise_stats} > {log} 2>&1"
