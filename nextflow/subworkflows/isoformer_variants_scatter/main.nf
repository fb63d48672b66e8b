//
// Scatter isoformer variants over shards of a VCF (contiguous runs of records, balanced by estimated cost, one
// task per GPU machine), then gather the shards into the files of one unsharded run with variants --gather.
//
include { ISOFORMER_VARIANTS       } from '../../modules/isoformer/variants/main'
include { ISOFORMER_VARIANTSGATHER } from '../../modules/isoformer/variantsgather/main'

workflow ISOFORMER_VARIANTS_SCATTER {

    take:
    ch_vcf      // channel: [ val(meta), path(vcf), path(vcf_index) or [] ]
    ch_genome   // channel: [ val(meta2), path(fasta), path(gtf) ]
    ch_model    // channel: [ val(meta3), path(model) ]
    fasta_index // path(s): the FASTA's .fai (and .gzi when bgzipped), or [] to index in each task
    chrom_alias // path: UCSC chromAlias file, or [] when the annotation, the VCF and the FASTA name contigs alike
    n_shards    // integer: number of shards (1 = no scatter)

    main:
    ch_shards = ch_vcf
        .combine( channel.of( 1..n_shards ) )
        .map { meta, vcf, index, i ->
            def shard_meta = meta + [ id: "${meta.id}.shard${i}of${n_shards}", scatter_id: meta.id ]
            [ shard_meta, vcf, index, n_shards > 1 ? "${i}/${n_shards}" : '' ]
        }

    ISOFORMER_VARIANTS ( ch_shards, ch_genome.first(), ch_model.first(), fasta_index, chrom_alias )

    // Gather every shard's files under the original sample, waiting for exactly n_shards shards; each shard's run
    // manifest lets --gather refuse a missing, repeated or changed shard.
    ch_gathered = ISOFORMER_VARIANTS.out.vcf
        .join( ISOFORMER_VARIANTS.out.index )
        .join( ISOFORMER_VARIANTS.out.tsv )
        .join( ISOFORMER_VARIANTS.out.svg )
        .join( ISOFORMER_VARIANTS.out.manifest )
        .map { meta, vcf, index, tsv, svg, manifest -> [ meta.scatter_id, [ vcf, index, tsv, svg, manifest ] ] }
        .groupTuple( size: n_shards )
        .map { id, files -> [ [ id: id ], files.flatten() ] }

    ISOFORMER_VARIANTSGATHER ( ch_gathered )

    emit:
    vcf   = ISOFORMER_VARIANTSGATHER.out.vcf     // channel: [ val(meta), path(vcf.gz) ]
    index = ISOFORMER_VARIANTSGATHER.out.index   // channel: [ val(meta), path(tbi or csi) ]
    tsv   = ISOFORMER_VARIANTSGATHER.out.tsv     // channel: [ val(meta), path(tsv) ]
    svg   = ISOFORMER_VARIANTSGATHER.out.svg     // channel: [ val(meta), path(svg) ]
    manifest = ISOFORMER_VARIANTSGATHER.out.manifest   // channel: [ val(meta), path(run.json) ]
}
