process ISOFORMER_MERGE {
    tag "${meta.id}"
    label 'process_single'
    conda "${moduleDir}/environment.yml"
    container "ghcr.io/isoformer/isoformer:0.1.0"

    input:
    tuple val(meta), path(shard_files, stageAs: 'shards/*')   // every shard's .predictions.tsv/.bed, .bw and .run.json (and .embeddings.tsv when predicted)

    output:
    tuple val(meta), path("${prefix}.predictions.tsv"), emit: tsv
    tuple val(meta), path("${prefix}.predictions.bed"), emit: bed
    tuple val(meta), path("${prefix}.*.bw")           , emit: bigwig, optional: true
    tuple val(meta), path("${prefix}.run.json")       , emit: manifest, optional: true   // when the shards had theirs
    tuple val(meta), path("${prefix}.embeddings.tsv") , emit: embeddings, optional: true // when the shards had theirs (predict --embeddings)
    tuple val("${task.process}"), val('isoformer'), eval("isoformer --version | sed 's/^isoformer //'"), topic: versions, emit: versions_isoformer

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    isoformer merge \\
        ${args} \\
        --out ${prefix} \\
        \$(ls shards/*.predictions.tsv | sed 's/\\.predictions\\.tsv\$//')
    """

    stub:
    def args = task.ext.args ?: ''
    prefix   = task.ext.prefix ?: "${meta.id}"
    """
    echo "${args}"
    printf 'transcript_id\\tgene_id\\tgene_name\\tchrom\\tstart\\tend\\tstrand\\n' > ${prefix}.predictions.tsv
    printf 'track name="isoformer" itemRgb="On"\\n' > ${prefix}.predictions.bed
    touch ${prefix}.Adipose_Tissue.bw
    touch ${prefix}.run.json
    touch ${prefix}.embeddings.tsv
    """
}
