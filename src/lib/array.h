/* Typed growable arrays:
     ARRAY(struct foo) arr;
     array_init(&arr, pool, 8);
     array_push(&arr, value);
     struct foo *f; array_foreach(&arr, f) ...
   The element storage comes from the array's pool. */
#ifndef COLUMBA_ARRAY_H
#define COLUMBA_ARRAY_H

#define ARRAY(type) struct { pool_t pool; type *v; unsigned int count, alloc; }
/* Named array types, for passing arrays to functions:
     ARRAY_DEFINE_TYPE(string, const char *);
     void f(ARRAY_TYPE(string) *arr); */
#define ARRAY_DEFINE_TYPE(name, type) \
	struct array_##name { pool_t pool; type *v; unsigned int count, alloc; }
#define ARRAY_TYPE(name) struct array_##name

void *array_grow_(pool_t pool, void *v, unsigned int *alloc,
		  unsigned int need, size_t elem_size);

#define array_init(a, _pool, init_count) do { \
	(a)->pool = (_pool); (a)->count = 0; (a)->alloc = 0; (a)->v = NULL; \
	if ((init_count) > 0) \
		(a)->v = array_grow_((a)->pool, (a)->v, &(a)->alloc, \
				     (init_count), sizeof(*(a)->v)); \
	} while (0)
#define array_is_created(a) ((a)->pool != NULL)
#define array_count(a) ((a)->count)
#define array_is_empty(a) ((a)->count == 0)
/* Make room for n more elements. */
#define array_reserve(a, n) \
	((a)->v = array_grow_((a)->pool, (a)->v, &(a)->alloc, \
			      (a)->count + (n), sizeof(*(a)->v)))
#define array_push(a, value) do { \
	array_reserve(a, 1); (a)->v[(a)->count++] = (value); } while (0)
/* Append a zeroed element and return a pointer to it. */
#define array_append_space(a) \
	(array_reserve(a, 1), memset(&(a)->v[(a)->count], 0, sizeof(*(a)->v)), \
	 &(a)->v[(a)->count++])
#define array_idx(a, i) \
	(i_assert_expr((unsigned int)(i) < (a)->count), &(a)->v[i])
#define array_last(a) array_idx(a, (a)->count - 1)
#define array_delete(a, idx, n) do { \
	unsigned int array_idx_ = (idx), array_n_ = (n); \
	i_assert(array_idx_ + array_n_ <= (a)->count); \
	memmove(&(a)->v[array_idx_], &(a)->v[array_idx_ + array_n_], \
		sizeof(*(a)->v) * ((a)->count - array_idx_ - array_n_)); \
	(a)->count -= array_n_; } while (0)
#define array_clear(a) ((a)->count = 0)
#define array_free(a) do { \
	if ((a)->pool != NULL) p_free_((a)->pool, (a)->v); \
	(a)->v = NULL; (a)->count = (a)->alloc = 0; (a)->pool = NULL; } while (0)
#define array_foreach(a, p) \
	for ((p) = (a)->v; (p) != NULL && (p) < (a)->v + (a)->count; (p)++)

#endif
