"""Score results.csv against truth.csv: top-1, recall@10, match precision/recall, false-match rate for outsiders, per romanisation.

Usage: python bench/identity/evaluate.py truth.csv results.csv
"""
import csv,sys,collections
truth={r['query_id']:r for r in csv.DictReader(open(sys.argv[1]))}
res=collections.defaultdict(list)
for r in csv.DictReader(open(sys.argv[2])): res[r['query_id']].append(r)
st=collections.defaultdict(collections.Counter)
for q,t in truth.items():
    rows=res.get(q,[]); s=t['system']; pid=t['person_id']
    for k in (s,'ALL'):
        c=st[k]; c['n']+=1
        if pid:
            c['in']+=1
            c['top1']+= bool(rows and rows[0]['person_id']==pid)
            c['r10']+= any(r['person_id']==pid for r in rows[:10])
        else: c['out']+=1
        m=[r for r in rows if r['decision']=='match']
        if m:
            c['match']+=1
            if m[0]['person_id']==pid: c['match_ok']+=1
            elif not pid: c['false_out']+=1
for k,c in sorted(st.items()):
    print(f"{k:16} n={c['n']:5} top1={c['top1']/max(c['in'],1):.3f} r@10={c['r10']/max(c['in'],1):.3f} match_prec={c['match_ok']/max(c['match'],1):.3f} match_rec={c['match_ok']/max(c['in'],1):.3f} fmr_out={c['false_out']/max(c['out'],1):.3f}")
