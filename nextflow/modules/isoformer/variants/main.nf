process ISOFORMER_VARIANTS {
    tag "${meta.id}"
    label 'process_medium'
    label 'process_gpu'
    conda "${moduleDir}/environment.yml"
    container "ghcr.io/isoformer/isoformer:0.1.0"

    input:
    tuple val(meta), path(vcf), path(vcf_index), val(shard)   // vcf_index: .tbi/.csi or []; shard: "i/n" or ''
    tuple val(meta2), path(fasta), path(gtf)
    tuple val(meta3), path(model)
    path(fasta_index)   // optional, [] if none: the FASTA's .fai (and .gzi when bgzipped), staged beside it
    path(chrom_alias)   // optional, [] if none: UCSC chromAlias for the annotation's and the VCF's contig names

    output:
    tuple val(meta), path("${prefix}.variants.vcf.gz")           , emit: vcf
    tuple val(meta), path("${prefix}.variants.vcf.gz.{tbi,csi}") , emit: index
    tuple val(meta), path("${prefix}.variants.tsv")              , emit: tsv
    tuple val(meta), path("${prefix}.variants.svg")              , emit: svg
    tuple val(meta), path("${prefix}.run.json")                  , emit: manifest   // what --gather checks the shards against
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
    isoformer variants \\
        --model ${model} \\
        --fasta ${fasta} \\
        --gtf ${gtf} \\
        --vcf ${vcf} \\
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
    echo "" | gzip > ${prefix}.variants.vcf.gz
    touch ${prefix}.variants.vcf.gz.tbi
    printf 'chrom\\tpos\\tid\\tref\\talt\\ttranscript_id\\n' > ${prefix}.variants.tsv
    printf '<svg xmlns="http://www.w3.org/2000/svg"/>\\n' > ${prefix}.variants.svg
    touch ${prefix}.run.json
    """
}
