process ISOFORMER_PREDICT {
    tag "${meta.id}"
    label 'process_medium'
    label 'process_gpu'
    conda "${moduleDir}/environment.yml"
    container "ghcr.io/isoformer/isoformer:0.1.0"

    input:
    tuple val(meta), path(fasta), path(gtf), val(shard)   // shard: "i/n" (1-based), or '' for the whole annotation
    tuple val(meta2), path(model)
    path(fasta_index)   // optional, [] if none: the FASTA's .fai (and .gzi when bgzipped), staged beside it
    path(chrom_alias)   // optional, [] if none: UCSC chromAlias when the annotation and FASTA name contigs differently

    output:
    tuple val(meta), path("${prefix}.predictions.tsv"), emit: tsv
    tuple val(meta), path("${prefix}.predictions.bed"), emit: bed
    tuple val(meta), path("${prefix}.*.bw")           , emit: bigwig, optional: true
    tuple val(meta), path("${prefix}.embeddings.tsv") , emit: embeddings, optional: true   // with --embeddings in ext.args
    tuple val(meta), path("${prefix}.run.json")       , emit: manifest   // what merge checks the shards against
    tuple val("${task.process}"), val('isoformer'), eval("isoformer --version | sed 's/^isoformer //'"), topic: versions, emit: versions_isoformer

    when:
    task.ext.when == null || task.ext.when

    script:
    def args      = task.ext.args ?: ''
    prefix        = task.ext.prefix ?: "${meta.id}"
    def device    = task.accelerator ? "cuda" : "cpu"
    def shard_arg = shard ? "--shard ${shard}" : ''
    def alias_arg = chrom_alias ? "--chrom-alias ${chrom_alias}" : ''
    """
    isoformer predict \\
        --model ${model} \\
        --fasta ${fasta} \\
        --gtf ${gtf} \\
        ${alias_arg} \\
        ${shard_arg} \\
        --device ${device} \\
        --threads ${task.cpus} \\
        ${args} \\
        --out ${prefix}
    """

    stub:
    def args      = task.ext.args ?: ''
    prefix        = task.ext.prefix ?: "${meta.id}"
    """
    echo "${args}"
    printf 'transcript_id\\tgene_id\\tgene_name\\tchrom\\tstart\\tend\\tstrand\\n' > ${prefix}.predictions.tsv
    printf 'track name="isoformer" itemRgb="On"\\n' > ${prefix}.predictions.bed
    touch ${prefix}.Adipose_Tissue.bw
    touch ${prefix}.embeddings.tsv
    touch ${prefix}.run.json
    """
}
